package main

import (
	"maps"
	"slices"

	"github.com/iotmqtt/iotmqtt/broker"
)

// profiles maps the names --profile takes to the broker options that make
// each behaviour. The broker in this tree has one: plain MQTT (mochi with
// the harness's hooks). The AWS IoT Core profile goes here, as "aws", and
// becomes defaultProfile, once package broker has it; the shadow service
// with it.
var profiles = map[string][]broker.Option{
	"mqtt": nil,
}

// defaultProfile is the behaviour without --profile.
const defaultProfile = "mqtt"

// profileNames returns the names --profile takes, sorted.
func profileNames() []string { return slices.Sorted(maps.Keys(profiles)) }
