package main

import (
	"maps"
	"slices"

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
		if o.connectInterval != defaultConnectInterval {
			p := broker.AWSIoTCore()
			p.ConnectInterval = o.connectInterval
			opts = append(opts, broker.WithProfile(p))
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
