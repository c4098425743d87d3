package broker

// AddEvent records e in r, for the recorder's own tests.
func AddEvent(r *Recorder, e Event) { r.add(e) }
