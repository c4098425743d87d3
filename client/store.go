package client

import (
	"strconv"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ackStore is the paho Store of one link. It keeps nothing — the session's
// outbox is the client's only memory of requests — but the calls paho makes
// into it say when a packet id is given to a request (Put, inside the
// Publish/Subscribe/Unsubscribe call) and when its acknowledgement arrives
// (Del, on paho's reading goroutine, just before paho completes the
// token). That lets a link settle every PUBACK, SUBACK and UNSUBACK as it
// arrives, in whatever order, with no goroutine per request. (paho files
// SUBSCRIBE and UNSUBSCRIBE packets only with ResumeSubs set; the link's
// paho client has it, and starts every connection with an empty store, so
// nothing is ever resumed.)
type ackStore struct{ l *link }

// Outbound keys are "o.<packet id>"; inbound ones ("i.") concern messages
// the client receives, which paho acknowledges itself.
const outboundKeyPrefix = "o."

func (s ackStore) Open()  {}
func (s ackStore) Close() {}
func (s ackStore) Reset() {}

func (s ackStore) All() []string { return nil }

func (s ackStore) Get(string) packets.ControlPacket { return nil }

func (s ackStore) Put(key string, m packets.ControlPacket) {
	if len(key) > 2 && key[:2] == outboundKeyPrefix {
		s.l.assignID(m.Details().MessageID)
	}
}

func (s ackStore) Del(key string) {
	if len(key) > 2 && key[:2] == outboundKeyPrefix {
		if id, err := strconv.ParseUint(key[2:], 10, 16); err == nil {
			s.l.acknowledged(uint16(id))
		}
	}
}
