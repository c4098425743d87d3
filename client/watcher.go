package client

import (
	"slices"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// watchItem is a request in flight and the paho token that completes it.
type watchItem struct {
	r   *request
	tok paho.Token
}

// watcher settles the requests in flight on one connection as their tokens
// complete, in the order they were sent, with one goroutine per connection
// instead of one per request. When the connection is lost it puts what is
// still unacknowledged back in the queue.
type watcher struct {
	mu     sync.Mutex // guards items, closed
	items  []watchItem
	closed bool
	wake   chan struct{} // buffered 1
}

func newWatcher() *watcher { return &watcher{wake: make(chan struct{}, 1)} }

// push hands a request to the watcher. It returns false if the connection
// is already gone; the caller then requeues the request itself.
func (w *watcher) push(r *request, tok paho.Token) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	w.items = append(w.items, watchItem{r, tok})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// next returns the oldest item, waiting for one until the link is lost.
func (w *watcher) next(l *link) (watchItem, bool) {
	for {
		w.mu.Lock()
		if len(w.items) > 0 {
			it := w.items[0]
			w.items[0] = watchItem{}
			w.items = w.items[1:]
			w.mu.Unlock()
			return it, true
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-l.lost:
			return watchItem{}, false
		}
	}
}

// completed appends to batch the items at the head whose tokens have
// already completed, without waiting.
func (w *watcher) completed(batch []watchItem) []watchItem {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for n < len(w.items) && isDone(w.items[n].tok) {
		n++
	}
	batch = append(batch, w.items[:n]...)
	clear(w.items[:n])
	w.items = w.items[n:]
	return batch
}

func isDone(tok paho.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}

// close stops accepting items and returns those not yet settled.
func (w *watcher) close() []watchItem {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	items := w.items
	w.items = nil
	return items
}

// watch is the watcher goroutine of link l. It waits for the oldest
// request's token, then settles it with every later one already complete,
// in one batch.
func (c *Client) watch(l *link) {
	var batch []watchItem
	var results []settled
	for {
		it, ok := l.watch.next(l)
		if !ok {
			break
		}
		select {
		case <-it.tok.Done():
			batch = l.watch.completed(append(batch[:0], it))
			results = slices.Grow(results[:0], len(batch))[:len(batch)]
			c.settleBatch(l, batch, results)
			clear(batch)
		case <-l.lost:
			c.settleOrRequeue(l, it)
			for _, rest := range l.watch.close() {
				c.settleOrRequeue(l, rest)
			}
			return
		}
	}
	for _, rest := range l.watch.close() {
		c.settleOrRequeue(l, rest)
	}
}

// settleOrRequeue settles an item whose token has already completed, and
// requeues it otherwise (its connection is gone).
func (c *Client) settleOrRequeue(l *link, it watchItem) {
	if isDone(it.tok) {
		c.settle(l, it)
		return
	}
	c.requeue(l, it.r)
}
