package broker

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// FaultKind names a fault of the harness. Fault events (KindFault) carry it,
// so a test matches a fault by kind, not by text.
type FaultKind string

// The switches: faults that stay on until switched off (SetFault).
const (
	// FaultRefuse: new connections get ECONNREFUSED on the same ports
	// (link fault).
	FaultRefuse FaultKind = "refuse"
	// FaultHangUp: new connections are accepted and closed at once; every
	// attempt is still recorded as an ACCEPT (link fault).
	FaultHangUp FaultKind = "hang-up"
	// FaultBlackhole: all traffic is held in both directions, sockets stay
	// open, closes are not passed on; held bytes are delivered when it is
	// switched off (link fault).
	FaultBlackhole FaultKind = "blackhole"
	// FaultRejectConnect: every CONNECT is answered with a CONNACK carrying
	// Fault.ReturnCode (1–5), then the connection is closed.
	FaultRejectConnect FaultKind = "reject-connect"
	// FaultWithholdPuback: client PUBLISH packets (those to topics
	// Fault.Filter matches, if it is set) are read and dropped: no PUBACK,
	// no delivery.
	FaultWithholdPuback FaultKind = "withhold-puback"
	// FaultAckWithoutDelivery: client PUBLISH packets are acknowledged and
	// delivered to nobody.
	FaultAckWithoutDelivery FaultKind = "ack-without-delivery"
	// FaultRefuseSubscription: SUBSCRIBE requests for Fault.Filter get
	// SUBACK 0x80.
	FaultRefuseSubscription FaultKind = "refuse-subscription"
)

// The actions: one-off faults, recorded with these kinds.
const (
	// FaultCut: every link (CutLinks), or one client's (CutClient, with
	// the client id), closed with FIN or RST.
	FaultCut FaultKind = "cut"
	// FaultDisconnect: the broker ended one client's session
	// (DisconnectClient).
	FaultDisconnect FaultKind = "disconnect"
	// FaultRestart: the broker restarted (Restart).
	FaultRestart FaultKind = "restart"
	// FaultWebSocketCredentials: the credentials the WebSocket listener
	// accepts changed (SetWebSocketCredentials).
	FaultWebSocketCredentials FaultKind = "websocket-credentials"
)

// Fault is a switch of the harness: on with SetFault(f, true), off with
// SetFault(f, false). Refuse, HangUp and Blackhole act on the links (every
// proxy, or one Proxy's); the others on the MQTT protocol.
type Fault struct {
	Kind FaultKind
	// ReturnCode is the CONNACK return code of FaultRejectConnect.
	ReturnCode byte
	// Filter is the topic filter of FaultRefuseSubscription, and of a
	// FaultWithholdPuback that applies to some topics only.
	Filter string
}

// The switches without a parameter.
var (
	Refuse             = Fault{Kind: FaultRefuse}
	HangUp             = Fault{Kind: FaultHangUp}
	Blackhole          = Fault{Kind: FaultBlackhole}
	WithholdPuback     = Fault{Kind: FaultWithholdPuback}
	AckWithoutDelivery = Fault{Kind: FaultAckWithoutDelivery}
)

// RejectConnect is the switch that refuses every CONNECT with CONNACK return
// code rc (1–5).
func RejectConnect(rc byte) Fault { return Fault{Kind: FaultRejectConnect, ReturnCode: rc} }

// WithholdPubackOn is the switch that withholds the PUBACK (and the
// delivery) of client PUBLISH packets to topics filter matches, as AWS IoT
// Core matches ("a/#" not matching "a"); WithholdPuback does it for all.
func WithholdPubackOn(filter string) Fault {
	return Fault{Kind: FaultWithholdPuback, Filter: filter}
}

// RefuseSubscription is the switch that refuses SUBSCRIBE requests for
// filter with SUBACK 0x80.
func RefuseSubscription(filter string) Fault {
	return Fault{Kind: FaultRefuseSubscription, Filter: filter}
}

// String says what the fault does.
func (f Fault) String() string {
	switch f.Kind {
	case FaultRejectConnect:
		return "reject CONNECT with rc " + describeRefusal(f.ReturnCode)
	case FaultRefuseSubscription:
		return fmt.Sprintf("refuse subscription to %q", f.Filter)
	case FaultWithholdPuback:
		if f.Filter != "" {
			return fmt.Sprintf("withhold PUBACK for %q", f.Filter)
		}
	}
	return string(f.Kind)
}

// isLinkFault says whether a proxy applies f.
func (f Fault) isLinkFault() bool {
	return f.Kind == FaultRefuse || f.Kind == FaultHangUp || f.Kind == FaultBlackhole
}

// check says what is wrong with f, if anything.
func (f Fault) check() error {
	switch f.Kind {
	case FaultRefuse, FaultHangUp, FaultBlackhole, FaultWithholdPuback, FaultAckWithoutDelivery:
		return nil
	case FaultRejectConnect:
		if _, ok := v3Refusals[f.ReturnCode]; !ok {
			return fmt.Errorf("broker: fault %s: return code %d is not an MQTT 3.1.1 refusal (1-5)", f.Kind, f.ReturnCode)
		}
		return nil
	case FaultRefuseSubscription:
		if f.Filter == "" {
			return fmt.Errorf("broker: fault %s: no filter", f.Kind)
		}
		return nil
	}
	return fmt.Errorf("broker: %q is not a fault that can be switched on and off", f.Kind)
}

// faultEvent records a switch turned on or off.
func faultEvent(f Fault, on bool) Event {
	state := "off"
	if on {
		state = "on"
	}
	return Event{Kind: KindFault, Fault: f.Kind, On: on, Filter: f.Filter, ReturnCode: f.ReturnCode, Detail: f.String() + ": " + state}
}

// SetFault switches fault f on or off on the whole broker: a link fault on
// every listener's proxy, a protocol fault in the broker. The change is
// recorded (KindFault, with f.Kind) before it applies. It fails for a fault
// that does not exist or a bad parameter, and when switching Refuse off
// cannot listen again.
func (b *Broker) SetFault(f Fault, on bool) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.isLinkFault() {
		b.Events.add(faultEvent(f, on))
		var errs []error
		for _, p := range b.proxies() {
			errs = append(errs, p.setLinkFault(f, on))
		}
		b.faults.note(f, on)
		return errors.Join(errs...)
	}
	b.Events.add(faultEvent(f, on))
	b.faults.set(f, on)
	return nil
}

// Faults returns the switches that are on.
func (b *Broker) Faults() []Fault { return b.faults.on() }

// faults holds the switches that are on. It outlives a Restart, so a fault
// set before a restart still applies after it. The protocol hooks read the
// atomics on every packet.
type faults struct {
	connackCode    atomic.Uint32 // 0: accept; otherwise the MQTT 3.1.1 return code to refuse with
	withholdPuback atomic.Bool
	// withholdFilters counts the WithholdPubackOn switches that are on.
	withholdFilters atomic.Int32
	ackNoDelivery   atomic.Bool

	mu       sync.Mutex       // guards switches
	switches map[string]Fault // key: kind and parameter
}

// set switches a protocol fault.
func (fs *faults) set(f Fault, on bool) {
	switch f.Kind {
	case FaultRejectConnect:
		rc := uint32(0)
		if on {
			rc = uint32(f.ReturnCode)
		}
		fs.connackCode.Store(rc)
	case FaultWithholdPuback:
		if f.Filter == "" {
			fs.withholdPuback.Store(on)
		}
	case FaultAckWithoutDelivery:
		fs.ackNoDelivery.Store(on)
	}
	fs.note(f, on)
}

// note keeps the list of switches that are on. RejectConnect has one code
// at a time: switching it on replaces the code, off clears it whatever the
// code.
func (fs *faults) note(f Fault, on bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.switches == nil {
		fs.switches = make(map[string]Fault)
	}
	key := string(f.Kind)
	if f.Filter != "" {
		key += " " + f.Filter
	}
	if on {
		fs.switches[key] = f
	} else {
		delete(fs.switches, key)
	}
	n := 0
	for _, s := range fs.switches {
		if s.Kind == FaultWithholdPuback && s.Filter != "" {
			n++
		}
	}
	fs.withholdFilters.Store(int32(n))
}

func (fs *faults) on() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	keys := slices.Sorted(maps.Keys(fs.switches))
	out := make([]Fault, len(keys))
	for i, k := range keys {
		out[i] = fs.switches[k]
	}
	return out
}

func (fs *faults) subscriptionRefused(filter string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_, ok := fs.switches[string(FaultRefuseSubscription)+" "+filter]
	return ok
}

// pubackWithheld says whether a PUBLISH to topic gets no PUBACK.
func (fs *faults) pubackWithheld(topic string) bool {
	if fs.withholdPuback.Load() {
		return true
	}
	if fs.withholdFilters.Load() == 0 {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, s := range fs.switches {
		if s.Kind == FaultWithholdPuback && s.Filter != "" && matchesAWS(s.Filter, topic) {
			return true
		}
	}
	return false
}
