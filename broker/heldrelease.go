package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The profile's limit of unacknowledged deliveries (MaxUnackedOutbound) is
// mochi's send quota. mochi keeps a QoS 1 delivery beyond the quota in the
// session, marked to be sent when quota frees (Expiry -1), and once a
// PUBACK frees it, writes the delivery and deletes it from the session
// (mochi v2.7.9 server.go:720-727). Its PUBACK is then ignored as unknown
// (server.go:1162) and never gives the quota back: after MaxUnackedOutbound
// such releases a client gets no more deliveries at all, and a released
// delivery the link loses is never redelivered. The profile puts each
// released delivery back in the session before mochi reads the client's
// next packet (or ends its connection), so its PUBACK completes it like any
// other: the client holds at most MaxUnackedOutbound, and gets every one.

// noteReleased remembers a held delivery mochi is writing (it deletes it
// from the session once written).
func (st *clientState) noteReleased(pk packets.Packet) {
	if pk.FixedHeader.Qos == 0 || pk.Expiry != -1 {
		return
	}
	pk.Expiry = 0 // in flight now, no longer waiting for quota
	st.mu.Lock()
	st.released = append(st.released, pk)
	st.mu.Unlock()
}

// restoreReleased puts the released deliveries back in cl's session.
func (st *clientState) restoreReleased(cl *mqtt.Client) {
	st.mu.Lock()
	released := st.released
	st.released = nil
	st.mu.Unlock()
	for _, pk := range released {
		cl.State.Inflight.Set(pk)
	}
}
