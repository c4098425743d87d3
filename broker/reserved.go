package broker

import "strings"

// reservedTopic is one family of AWS IoT Core's reserved topics
// (developerguide/reserved-topics.md), as an MQTT filter, with what a
// client may do on it.
type reservedTopic struct {
	pattern            string
	publish, subscribe bool
}

// reservedTopics lists AWS IoT Core's reserved topics. Every other topic
// that starts with $ is refused.
var reservedTopics = func() []reservedTopic {
	pub, sub, both := func(p string) reservedTopic { return reservedTopic{p, true, false} },
		func(p string) reservedTopic { return reservedTopic{p, false, true} },
		func(p string) reservedTopic { return reservedTopic{p, true, true} }
	t := []reservedTopic{
		pub("$aws/rules/#"), // Basic Ingest
		sub("$aws/events/#"),
		pub("$aws/things/+/defender/metrics/+"),
		sub("$aws/things/+/defender/metrics/+/accepted"),
		sub("$aws/things/+/defender/metrics/+/rejected"),
		sub("$aws/sitewise/asset-models/+/assets/+/properties/+"),
		sub("$aws/things/+/tunnels/notify"),
		sub("$aws/things/+/jobs/notify"),
		sub("$aws/things/+/jobs/notify-next"),
	}
	for _, request := range []string{"$aws/certificates/create/+", "$aws/certificates/create-from-csr/+",
		"$aws/provisioning-templates/+/provision/+", "$aws/things/+/jobs/get", "$aws/things/+/jobs/start-next",
		"$aws/things/+/jobs/+/get", "$aws/things/+/jobs/+/update"} {
		t = append(t, pub(request), sub(request+"/accepted"), sub(request+"/rejected"))
	}
	for _, prefix := range []string{"$aws/things/+/shadow", "$aws/things/+/shadow/name/+"} {
		for _, op := range []string{"get", "update", "delete"} {
			t = append(t, both(prefix+"/"+op), sub(prefix+"/"+op+"/accepted"), sub(prefix+"/"+op+"/rejected"))
		}
		t = append(t, sub(prefix+"/update/delta"), sub(prefix+"/update/documents"))
	}
	for _, request := range []string{"get", "describe"} {
		t = append(t, pub("$aws/things/+/streams/+/"+request+"/+"))
	}
	for _, answer := range []string{"data", "description", "rejected"} {
		t = append(t, sub("$aws/things/+/streams/+/"+answer+"/+"))
	}
	return t
}()

// reservedPublishAllowed says whether a client may publish to topic, a
// topic that starts with $.
func reservedPublishAllowed(topic string) bool {
	for _, r := range reservedTopics {
		if r.publish && matchesAWS(r.pattern, topic) {
			return true
		}
	}
	return false
}

// reservedSubscribeAllowed says whether a client may subscribe to filter,
// a filter that starts with $: if it can match a reserved topic one may
// subscribe to.
func reservedSubscribeAllowed(filter string) bool {
	for _, r := range reservedTopics {
		if r.subscribe && filtersOverlap(r.pattern, filter) {
			return true
		}
	}
	return false
}

// matchesAWS says whether filter matches topic as AWS IoT Core matches:
// as MQTT, except that "a/#" does not match "a" (its parent level).
func matchesAWS(filter, topic string) bool {
	for {
		f, fRest, fMore := strings.Cut(filter, "/")
		t, tRest, tMore := strings.Cut(topic, "/")
		switch {
		case f == "#":
			return true
		case f != "+" && f != t:
			return false
		case !fMore || !tMore:
			return fMore == tMore
		}
		filter, topic = fRest, tRest
	}
}

// filtersOverlap says whether some topic matches both filters.
func filtersOverlap(a, b string) bool {
	for {
		x, aRest, aMore := strings.Cut(a, "/")
		y, bRest, bMore := strings.Cut(b, "/")
		switch {
		case x == "#" || y == "#":
			return true
		case x != "+" && y != "+" && x != y:
			return false
		case !aMore || !bMore:
			return aMore == bMore
		}
		a, b = aRest, bRest
	}
}
