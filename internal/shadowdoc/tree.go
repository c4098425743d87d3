package shadowdoc

import (
	"encoding/json"
	"math/big"
)

// A JSON value decoded with json.Decoder.UseNumber: nil, bool, string,
// json.Number, []any or map[string]any. Numbers stay as written, so a
// stored 1.50 comes back as 1.50; they compare by value (1.5 equals 1.50).

// merge applies an update section to a stored section, as AWS documents:
// objects merge key by key, a null deletes its key, anything else (a
// scalar or an array) replaces the stored value. meta is the section's
// metadata, updated alongside: each value written gets timestamp ts, each
// key deleted loses its metadata.
func merge(dst, meta, src map[string]any, ts int64) {
	for k, v := range src {
		switch v := v.(type) {
		case nil:
			delete(dst, k)
			delete(meta, k)
		case map[string]any:
			sub, ok := dst[k].(map[string]any)
			subMeta, metaOK := meta[k].(map[string]any)
			if !ok || !metaOK {
				sub, subMeta = map[string]any{}, map[string]any{}
				dst[k], meta[k] = sub, subMeta
			}
			merge(sub, subMeta, v, ts)
		default:
			dst[k] = clone(v)
			meta[k] = metadataOf(v, ts)
		}
	}
}

// metadataOf returns the metadata of a value written at ts: the value's
// shape, with {"timestamp": ts} for each scalar (and null), one entry per
// array element.
func metadataOf(v any, ts int64) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = metadataOf(e, ts)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = metadataOf(e, ts)
		}
		return out
	default:
		return map[string]any{"timestamp": ts}
	}
}

// delta returns the desired values that reported lacks or holds
// differently: for objects on both sides only the differing leaves, with
// their path; anything else (arrays included) whole.
func delta(desired, reported map[string]any) map[string]any {
	out := map[string]any{}
	for k, d := range desired {
		r, ok := reported[k]
		dm, dIsMap := d.(map[string]any)
		rm, rIsMap := r.(map[string]any)
		switch {
		case !ok:
			out[k] = clone(d)
		case dIsMap && rIsMap:
			if sub := delta(dm, rm); len(sub) > 0 {
				out[k] = sub
			}
		case !equal(d, r):
			out[k] = clone(d)
		}
	}
	return out
}

// restrict returns the part of meta (a section's metadata) that describes
// the keys of shape (a delta of that section).
func restrict(meta, shape map[string]any) map[string]any {
	out := make(map[string]any, len(shape))
	for k, v := range shape {
		sub, isMap := v.(map[string]any)
		subMeta, metaIsMap := meta[k].(map[string]any)
		if isMap && metaIsMap {
			out[k] = restrict(subMeta, sub)
		} else {
			out[k] = clone(meta[k])
		}
	}
	return out
}

// equal compares two JSON values; numbers by value.
func equal(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		return ok && sameNumber(string(a), string(b))
	default:
		return a == b
	}
}

func sameNumber(a, b string) bool {
	if a == b {
		return true
	}
	x, okA := new(big.Rat).SetString(a)
	y, okB := new(big.Rat).SetString(b)
	return okA && okB && x.Cmp(y) == 0
}

// depth counts the levels of objects and arrays in v: 0 for a scalar, 1
// for an object of scalars.
func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, depth(e))
		}
	case []any:
		for _, e := range v {
			d = max(d, depth(e))
		}
	default:
		return 0
	}
	return d + 1
}

// hasNullInArray reports whether an array anywhere in v holds a null, which
// AWS rejects ("Arrays can't have null values").
func hasNullInArray(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if hasNullInArray(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if e == nil || hasNullInArray(e) {
				return true
			}
		}
	}
	return false
}

// clone deep-copies a JSON value.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = clone(e)
		}
		return out
	default:
		return v
	}
}

// cloneMap deep-copies an object; nil stays nil.
func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = clone(e)
	}
	return out
}
