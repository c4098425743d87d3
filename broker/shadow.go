package broker

import (
	"context"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotmqtt/iotmqtt/internal/shadowdoc"
	"github.com/iotmqtt/iotmqtt/internal/shadowtopic"
)

// shadowService is the Device Shadow service: it answers the requests
// clients publish to $aws/things/<thing>/shadow/[name/<shadow>/]{get,
// update,delete} by publishing the answers through the broker, so every
// subscriber of a response topic receives them, as on AWS. The shadows
// live in the service, not in mochi, so they survive Restart (they are
// AWS's, not the broker's).
//
// Answers leave in the order of their requests, from one goroutine (the
// outbox), ResponseDelay after their request; the goroutine that reads a
// client's packets never waits for a subscriber.
type shadowService struct {
	b     *Broker
	store *shadowdoc.Store
	opts  ShadowOptions

	mu       sync.Mutex // guards queue, inFlight
	queue    []*shadowAnswer
	inFlight map[*mqtt.Client][]time.Time // per connection: when its requests in flight are answered
	wake     chan struct{}                // buffered 1: the queue grew

	ctx    context.Context // ends at close
	cancel context.CancelFunc
	done   chan struct{} // closed when the outbox has stopped
}

// shadowAnswer is what the service publishes for one request.
type shadowAnswer struct {
	due       time.Time
	messages  []shadowMessage
	published chan struct{} // closed once every message has been handed to mochi
}

type shadowMessage struct {
	topic   string
	payload []byte
}

func newShadowService(b *Broker, opts ShadowOptions) *shadowService {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultShadowMaxInFlight
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &shadowService{
		b: b, store: shadowdoc.NewStore(opts.limits()), opts: opts,
		inFlight: make(map[*mqtt.Client][]time.Time), wake: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	go s.outbox()
	return s
}

// close stops the outbox; answers not yet published are dropped. It is
// safe on a nil service (WithoutShadow) and more than once.
func (s *shadowService) close() {
	if s == nil {
		return
	}
	s.cancel()
	<-s.done
}

// request answers a client's request.
func (s *shadowService) request(cl *mqtt.Client, sh shadowtopic.Shadow, op shadowtopic.Op, payload []byte) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var res shadowdoc.Result
	if s.inFlightLocked(cl, now) >= s.opts.MaxInFlight {
		res = s.store.Throttled(sh, payload, s.opts.MaxInFlight)
	} else {
		res = s.store.Do(op, sh, payload, now)
		if s.opts.ResponseDelay > 0 {
			s.inFlight[cl] = append(s.inFlight[cl], now.Add(s.opts.ResponseDelay))
		}
	}
	e := shadowEvent(sh, op, res, now)
	e.ClientID, e.Listener, e.Topic = cl.ID, cl.Net.Listener, sh.Request(op)
	s.b.Events.add(e)
	s.enqueueLocked(now, answerMessages(sh, op, res, true))
}

// dataPlane runs an operation as an application would through AWS's data
// plane (UpdateThingShadow and the like): the same engine and the same
// accepted notifications over MQTT, but no rejected message (the caller
// gets the error instead) and no in-flight limit. It returns the answer to
// publish, nil if nothing is published.
func (s *shadowService) dataPlane(sh shadowtopic.Shadow, op shadowtopic.Op, payload []byte) (shadowdoc.Result, *shadowAnswer) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.store.Do(op, sh, payload, now)
	e := shadowEvent(sh, op, res, now)
	e.Detail = "data plane"
	s.b.Events.add(e)
	if res.Err != nil || op == shadowtopic.Get {
		return res, nil
	}
	return res, s.enqueueLocked(now, answerMessages(sh, op, res, false))
}

// shadowEvent records an operation at the time it took effect (the time
// of its timestamps).
func shadowEvent(sh shadowtopic.Shadow, op shadowtopic.Op, res shadowdoc.Result, now time.Time) Event {
	e := Event{At: now, Kind: KindShadow, Thing: sh.Thing, ShadowName: sh.Name, ShadowOp: string(op), HTTPStatus: res.Code(), Payload: res.Payload}
	if res.Err != nil {
		e.Cause = res.Err.Message
	}
	return e
}

// answerMessages lists what the service publishes for a result: the
// accepted (or, if withRejected, the rejected) message, then after an
// accepted update the delta, if any, and the documents message.
func answerMessages(sh shadowtopic.Shadow, op shadowtopic.Op, res shadowdoc.Result, withRejected bool) []shadowMessage {
	if res.Err != nil {
		if !withRejected {
			return nil
		}
		return []shadowMessage{{sh.Response(op, shadowtopic.Rejected), res.Payload}}
	}
	msgs := []shadowMessage{{sh.Response(op, shadowtopic.Accepted), res.Payload}}
	if res.Delta != nil {
		msgs = append(msgs, shadowMessage{sh.Response(shadowtopic.Update, shadowtopic.Delta), res.Delta})
	}
	if res.Documents != nil {
		msgs = append(msgs, shadowMessage{sh.Response(shadowtopic.Update, shadowtopic.Documents), res.Documents})
	}
	return msgs
}

// inFlightLocked counts cl's requests whose answers are not due yet, and
// forgets the answered ones (of every connection, so closed connections do
// not stay).
func (s *shadowService) inFlightLocked(cl *mqtt.Client, now time.Time) int {
	for c, dues := range s.inFlight {
		kept := dues[:0]
		for _, d := range dues {
			if d.After(now) {
				kept = append(kept, d)
			}
		}
		if len(kept) == 0 {
			delete(s.inFlight, c)
		} else {
			s.inFlight[c] = kept
		}
	}
	return len(s.inFlight[cl])
}

func (s *shadowService) enqueueLocked(now time.Time, msgs []shadowMessage) *shadowAnswer {
	a := &shadowAnswer{due: now.Add(s.opts.ResponseDelay), messages: msgs, published: make(chan struct{})}
	s.queue = append(s.queue, a)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return a
}

// outbox publishes the answers, in order, each when it is due. Every
// answer is due ResponseDelay after its request, so the queue is in due
// order.
func (s *shadowService) outbox() {
	defer close(s.done)
	for {
		s.mu.Lock()
		var next *shadowAnswer
		if len(s.queue) > 0 {
			next = s.queue[0]
		}
		s.mu.Unlock()
		if next == nil {
			select {
			case <-s.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		if !s.waitUntil(next.due) {
			return
		}
		for _, m := range next.messages {
			// At QoS 1, which mochi lowers to each subscription's QoS.
			// A copy mochi drops is recorded (DROPPED); the error is
			// not the service's to handle.
			_ = s.b.Publish(s.ctx, m.topic, m.payload, 1, false)
			if s.ctx.Err() != nil {
				return
			}
		}
		s.mu.Lock()
		s.queue = s.queue[1:]
		s.mu.Unlock()
		close(next.published)
	}
}

// waitUntil waits until t, or returns false if the service closes first.
func (s *shadowService) waitUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// shadowHook hands the shadow requests clients publish to the service,
// once mochi has accepted them (and fanned them out: the request topics
// are ordinary topics too).
type shadowHook struct {
	mqtt.HookBase
	svc *shadowService
}

func (h *shadowHook) ID() string { return "iotmqtt-shadow" }

func (h *shadowHook) Provides(b byte) bool { return b == mqtt.OnPublished }

// OnPublished runs after mochi has acknowledged and fanned out a PUBLISH.
// The broker's own publishes (the answers) are not requests, and neither is
// a PUBLISH a fault acknowledged without delivering (pk.Ignore).
func (h *shadowHook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline || pk.Ignore {
		return
	}
	if sh, op, ok := shadowtopic.ParseRequest(pk.TopicName); ok {
		h.svc.request(cl, sh, op, pk.Payload)
	}
}
