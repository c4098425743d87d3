package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/iotmqtt/iotmqtt/broker"
)

// Profile names --profile takes: AWS IoT Core's limits and behaviours
// (the default), or plain MQTT (mochi with the harness's hooks, for device
// code meant for a generic broker).
const (
	profileAWS  = "aws"
	profileMQTT = "mqtt"
)

// defaultProfile is the behaviour without --profile.
const defaultProfile = profileAWS

// profileNames are the names --profile takes, sorted.
func profileNames() []string {
	return slices.Sorted(maps.Keys(map[string]bool{profileAWS: true, profileMQTT: true}))
}

// defaultConnectInterval is AWS IoT Core's least time between two accepted
// CONNECTs with one client id.
var defaultConnectInterval = broker.AWSIoTCore().ConnectInterval

// profileOptions are the broker options of the chosen profile and shadow
// service.
func profileOptions(o *options) []broker.Option {
	var opts []broker.Option
	switch o.profile {
	case profileMQTT:
		opts = append(opts, broker.WithPlainMQTT())
	case profileAWS:
		if p, err := awsProfile(o); err == nil && (len(o.set) > 0 || o.connectInterval != defaultConnectInterval) {
			opts = append(opts, broker.WithProfile(p)) // check has refused a bad --set
		}
	}
	if !o.shadow {
		opts = append(opts, broker.WithoutShadow())
	}
	return opts
}

// connectIntervalDoc explains --connect-interval.
const connectIntervalDoc = "with --profile aws: the least time between two accepted CONNECTs with one client id; an earlier one is refused without CONNACK " +
	"(AWS: 1s; field reports saw up to 10s; 0 admits every reconnect)"

// awsProfile is AWS IoT Core's profile with --connect-interval and each
// --set applied, or what is wrong with one.
func awsProfile(o *options) (broker.Profile, error) {
	p := broker.AWSIoTCore()
	p.ConnectInterval = o.connectInterval
	for _, s := range o.set {
		field, value, ok := strings.Cut(s, "=")
		if !ok {
			return p, fmt.Errorf("--set %q: give Field=value, e.g. --set SubscribeQoS2=Grant", s)
		}
		if err := p.Set(strings.TrimSpace(field), strings.TrimSpace(value)); err != nil {
			return p, fmt.Errorf("--set %q: %w", s, err)
		}
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("--set: %w", err)
	}
	return p, nil
}

// setDoc explains --set.
const setDoc = "with --profile aws: change a field of the AWS IoT Core profile, e.g. --set SubscribeQoS2=Grant --set EarlyPackets=Accept " +
	"(its Go name and a value: a number, a duration, true/false or a reaction; the README lists them); may be repeated"
