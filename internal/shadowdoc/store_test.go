package shadowdoc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/internal/shadowtopic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	bot   = shadowtopic.Shadow{Thing: "Bot"}
	named = shadowtopic.Shadow{Thing: "Bot", Name: "config"}
	t0    = time.Unix(1700000000, 0)
)

// step is one operation and what it must answer.
type step struct {
	op      shadowtopic.Op
	shadow  shadowtopic.Shadow // zero: bot
	payload string
	at      int64  // seconds after t0
	code    int    // 0: 200
	want    string // the answer (JSON), if checked
}

func run(t *testing.T, st *Store, steps []step) []Result {
	t.Helper()
	var out []Result
	for i, s := range steps {
		sh := s.shadow
		if sh == (shadowtopic.Shadow{}) {
			sh = bot
		}
		res := st.Do(s.op, sh, []byte(s.payload), t0.Add(time.Duration(s.at)*time.Second))
		want := s.code
		if want == 0 {
			want = 200
		}
		require.Equal(t, want, res.Code(), "step %d (%s %s): %s", i, s.op, s.payload, res.Payload)
		if s.want != "" {
			require.JSONEq(t, s.want, string(res.Payload), "step %d (%s %s)", i, s.op, s.payload)
		}
		out = append(out, res)
	}
	return out
}

// state returns the get document's state and version after the steps.
func stateAfter(t *testing.T, steps ...step) string {
	t.Helper()
	st := NewStore(Limits{})
	run(t, st, steps)
	res := st.Do(shadowtopic.Get, bot, nil, t0)
	require.Nil(t, res.Err, "%s", res.Payload)
	doc, ok := decodeObject(res.Payload)
	require.True(t, ok)
	return string(encode(map[string]any{"state": doc["state"], "version": doc["version"]}))
}

func update(payload string) step { return step{op: shadowtopic.Update, payload: payload} }

func TestMergeRules(t *testing.T) {
	tests := []struct {
		name    string
		updates []string
		want    string // state and version after them
	}{
		{"objects merge key by key, at every level",
			[]string{`{"state":{"desired":{"a":1,"o":{"x":1,"n":{"p":1}}}}}`, `{"state":{"desired":{"b":2,"o":{"y":2,"n":{"q":2}}}}}`},
			`{"state":{"desired":{"a":1,"b":2,"o":{"x":1,"y":2,"n":{"p":1,"q":2}}},"delta":{"a":1,"b":2,"o":{"x":1,"y":2,"n":{"p":1,"q":2}}}},"version":2}`},
		{"an array replaces the whole array",
			[]string{`{"state":{"reported":{"colors":["RED","GREEN","BLUE"]}}}`, `{"state":{"reported":{"colors":["RED"]}}}`},
			`{"state":{"reported":{"colors":["RED"]}},"version":2}`},
		{"a scalar replaces an object",
			[]string{`{"state":{"reported":{"o":{"x":1}}}}`, `{"state":{"reported":{"o":"flat"}}}`},
			`{"state":{"reported":{"o":"flat"}},"version":2}`},
		{"an object replaces a scalar",
			[]string{`{"state":{"reported":{"o":"flat"}}}`, `{"state":{"reported":{"o":{"x":1}}}}`},
			`{"state":{"reported":{"o":{"x":1}}},"version":2}`},
		{"null deletes a key, nested too",
			[]string{`{"state":{"reported":{"a":1,"b":2,"o":{"x":1,"y":2}}}}`, `{"state":{"reported":{"a":null,"o":{"x":null}}}}`},
			`{"state":{"reported":{"b":2,"o":{"y":2}}},"version":2}`},
		{"null for an absent key changes nothing but the version",
			[]string{`{"state":{"reported":{"a":1}}}`, `{"state":{"reported":{"zz":null}}}`},
			`{"state":{"reported":{"a":1}},"version":2}`},
		{"a section set to null is removed",
			[]string{`{"state":{"desired":{"a":1},"reported":{"a":2}}}`, `{"state":{"desired":null}}`},
			`{"state":{"reported":{"a":2}},"version":2}`},
		{"state null empties the shadow, which still exists",
			[]string{`{"state":{"desired":{"a":1},"reported":{"a":2}}}`, `{"state":null}`},
			`{"state":{},"version":2}`},
		{"an empty state is an update",
			[]string{`{"state":{"reported":{"a":1}}}`, `{"state":{}}`},
			`{"state":{"reported":{"a":1}},"version":2}`},
		{"numbers stay as written",
			[]string{`{"state":{"reported":{"f":1.50,"big":12345678901234567890,"e":1e3}}}`},
			`{"state":{"reported":{"f":1.50,"big":12345678901234567890,"e":1e3}},"version":1}`},
		{"only desired and reported are stored",
			[]string{`{"state":{"reported":{"a":1}},"other":{"x":1},"clientToken":"t"}`},
			`{"state":{"reported":{"a":1}},"version":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var steps []step
			for _, u := range tt.updates {
				steps = append(steps, update(u))
			}
			require.JSONEq(t, tt.want, stateAfter(t, steps...))
		})
	}
}

func TestDelta(t *testing.T) {
	tests := []struct {
		name              string
		desired, reported string
		want              string // the delta; "" for none
	}{
		{"AWS's example: desired fields absent from reported or different", `{"color":"RED","state":"STOP"}`, `{"color":"GREEN","engine":"ON"}`, `{"color":"RED","state":"STOP"}`},
		{"nested objects keep the path to the root", `{"lights":{"color":{"r":255,"g":255,"b":255}}}`, `{"lights":{"color":{"r":255,"g":0,"b":255}}}`, `{"lights":{"color":{"g":255}}}`},
		{"arrays compare as values, whole", `{"c":["RED","BLUE"]}`, `{"c":["RED"]}`, `{"c":["RED","BLUE"]}`},
		{"equal arrays make no delta", `{"c":["RED"]}`, `{"c":["RED"]}`, ""},
		{"numbers compare by value", `{"n":1.0,"m":100}`, `{"n":1,"m":1e2}`, ""},
		{"an object against a scalar is whole", `{"o":{"x":1}}`, `{"o":5}`, `{"o":{"x":1}}`},
		{"fields only in reported are not in it", `{"a":1}`, `{"a":1,"b":2}`, ""},
		{"no reported at all: all of desired", `{"a":1,"o":{"x":1}}`, ``, `{"a":1,"o":{"x":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := NewStore(Limits{})
			if tt.reported != "" {
				run(t, st, []step{update(`{"state":{"reported":` + tt.reported + `}}`)})
			}
			res := run(t, st, []step{update(`{"state":{"desired":` + tt.desired + `}}`)})[0]
			if tt.want == "" {
				require.Nil(t, res.Delta, "no delta message")
				return
			}
			require.NotNil(t, res.Delta, "a delta message")
			doc, _ := decodeObject(res.Delta)
			require.JSONEq(t, tt.want, string(encode(doc["state"])))
			got, _ := decodeObject(st.Do(shadowtopic.Get, bot, nil, t0).Payload)
			require.JSONEq(t, tt.want, string(encode(got["state"].(map[string]any)["delta"])), "get shows the same delta")
		})
	}
}

// The update/delta message holds the whole delta with the desired metadata
// of its fields, whatever the update sent; it is published after an update
// that sent desired state (and, with DeltaOnReportedUpdates, after one that
// sent only reported state) when desired and reported differ.
func TestDeltaMessage(t *testing.T) {
	st := NewStore(Limits{})
	res := run(t, st, []step{
		{op: shadowtopic.Update, payload: `{"state":{"desired":{"a":1,"o":{"x":1,"y":1}}}}`},
		{op: shadowtopic.Update, payload: `{"state":{"desired":{"b":2}},"clientToken":"tok-2"}`, at: 5},
	})
	require.JSONEq(t, `{"state":{"a":1,"b":2,"o":{"x":1,"y":1}},
		"metadata":{"a":{"timestamp":1700000000},"b":{"timestamp":1700000005},"o":{"x":{"timestamp":1700000000},"y":{"timestamp":1700000000}}},
		"version":2,"timestamp":1700000005,"clientToken":"tok-2"}`, string(res[1].Delta))

	res = run(t, st, []step{{op: shadowtopic.Update, payload: `{"state":{"reported":{"a":1,"o":{"x":1}}}}`, at: 9}})
	require.Nil(t, res[0].Delta, "a reported-only update publishes no delta by default")
	res = run(t, st, []step{{op: shadowtopic.Update, payload: `{"state":{"desired":{"b":null,"o":{"y":null}}}}`, at: 10}})
	require.Nil(t, res[0].Delta, "desired now equals reported: no delta")

	st = NewStore(Limits{DeltaOnReportedUpdates: true})
	res = run(t, st, []step{update(`{"state":{"desired":{"a":1,"b":2}}}`), update(`{"state":{"reported":{"a":1}}}`)})
	require.JSONEq(t, `{"b":2}`, stateOf(t, res[1].Delta), "with DeltaOnReportedUpdates a reported-only update publishes the delta left")
	res = run(t, st, []step{update(`{"state":{"reported":{"b":2}}}`)})
	require.Nil(t, res[0].Delta, "none when nothing differs")
}

func stateOf(t *testing.T, doc []byte) string {
	t.Helper()
	m, ok := decodeObject(doc)
	require.True(t, ok, "%s", doc)
	return string(encode(m["state"]))
}

// Every written value gets the update's time in epoch seconds; values not
// written keep theirs; an array has one entry per element; the accepted
// document echoes exactly what the request sent, nulls included.
func TestMetadataAndAcceptedDocument(t *testing.T) {
	st := NewStore(Limits{})
	run(t, st, []step{
		{op: shadowtopic.Update, payload: `{"state":{"reported":{"a":1,"o":{"x":1},"gone":true}}}`,
			want: `{"state":{"reported":{"a":1,"o":{"x":1},"gone":true}},
				"metadata":{"reported":{"a":{"timestamp":1700000000},"o":{"x":{"timestamp":1700000000}},"gone":{"timestamp":1700000000}}},
				"version":1,"timestamp":1700000000}`},
		{op: shadowtopic.Update, at: 60, payload: `{"state":{"reported":{"o":{"y":[1,{"z":2}]},"gone":null}},"clientToken":"abc"}`,
			want: `{"state":{"reported":{"o":{"y":[1,{"z":2}]},"gone":null}},
				"metadata":{"reported":{"o":{"y":[{"timestamp":1700000060},{"z":{"timestamp":1700000060}}]},"gone":{"timestamp":1700000060}}},
				"version":2,"timestamp":1700000060,"clientToken":"abc"}`},
		{op: shadowtopic.Get, at: 61, payload: `{"clientToken":"g"}`,
			want: `{"state":{"reported":{"a":1,"o":{"x":1,"y":[1,{"z":2}]}}},
				"metadata":{"reported":{"a":{"timestamp":1700000000},"o":{"x":{"timestamp":1700000000},"y":[{"timestamp":1700000060},{"z":{"timestamp":1700000060}}]}}},
				"version":2,"timestamp":1700000061,"clientToken":"g"}`},
	})
}

func TestDocumentsMessage(t *testing.T) {
	st := NewStore(Limits{})
	res := run(t, st, []step{
		update(`{"state":{"desired":{"a":1}}}`),
		{op: shadowtopic.Update, at: 2, payload: `{"state":{"reported":{"a":1}},"clientToken":"d"}`},
	})
	require.JSONEq(t, `{"previous":{"state":{},"metadata":{},"version":0},
		"current":{"state":{"desired":{"a":1}},"metadata":{"desired":{"a":{"timestamp":1700000000}}},"version":1},
		"timestamp":1700000000}`, string(res[0].Documents), "the first update: nothing before")
	require.JSONEq(t, `{"previous":{"state":{"desired":{"a":1}},"metadata":{"desired":{"a":{"timestamp":1700000000}}},"version":1},
		"current":{"state":{"desired":{"a":1},"reported":{"a":1}},"metadata":{"desired":{"a":{"timestamp":1700000000}},"reported":{"a":{"timestamp":1700000002}}},"version":2},
		"timestamp":1700000002,"clientToken":"d"}`, string(res[1].Documents), "previous and current, no delta in either")
	res = run(t, st, []step{{op: shadowtopic.Update, payload: `{"state":{"reported":{"a":2}},"version":1}`, code: 409}})
	require.Nil(t, res[0].Documents, "no documents message for a rejected update")
	require.Nil(t, res[0].Delta)
}

func TestVersionsAndOptimisticLocking(t *testing.T) {
	st := NewStore(Limits{})
	res := run(t, st, []step{
		update(`{"state":{"desired":{"colors":["RED","GREEN","BLUE"]}}}`),
		update(`{"state":{"desired":{"a":1}}}`),
		{op: shadowtopic.Update, payload: `{"state":{"desired":{"colors":["BLUE"]}},"version":1,"clientToken":"426bfd96"}`, code: 409,
			want: `{"code":409,"message":"Version conflict","clientToken":"426bfd96"}`},
		{op: shadowtopic.Update, payload: `{"state":{"desired":{"colors":["BLUE"]}},"version":2}`},
		{op: shadowtopic.Update, payload: `{"state":{"desired":{"x":1}},"version":0}`, code: 409},
	})
	var versions []int64
	for _, r := range res {
		versions = append(versions, r.Version)
	}
	require.Equal(t, []int64{1, 2, 2, 3, 3}, versions, "+1 per accepted update; a rejected one changes nothing")
	require.JSONEq(t, `{"state":{"desired":{"colors":["BLUE"],"a":1},"delta":{"colors":["BLUE"],"a":1}},"version":3}`, stateAfterStore(t, st))
}

func stateAfterStore(t *testing.T, st *Store) string {
	t.Helper()
	doc, _ := decodeObject(st.Do(shadowtopic.Get, bot, nil, t0).Payload)
	return string(encode(map[string]any{"state": doc["state"], "version": doc["version"]}))
}

// A delete answers with the deleted version; the shadow is gone (404), and
// the next update goes on from the deleted version.
func TestDeleteKeepsTheVersionNumbering(t *testing.T) {
	st := NewStore(Limits{})
	run(t, st, []step{
		update(`{"state":{"reported":{"a":1}}}`),
		update(`{"state":{"reported":{"a":2}}}`),
		{op: shadowtopic.Delete, at: 3, payload: `{"clientToken":"del"}`, want: `{"version":2,"timestamp":1700000003,"clientToken":"del"}`},
		{op: shadowtopic.Get, code: 404, payload: `{"clientToken":"g"}`, want: `{"code":404,"message":"No shadow exists with name: 'Bot'","clientToken":"g"}`},
		{op: shadowtopic.Delete, code: 404, want: `{"code":404,"message":"No shadow exists with name: 'Bot'"}`},
		{op: shadowtopic.Update, payload: `{"state":{"reported":{"b":1}},"version":1}`, code: 409},
		{op: shadowtopic.Update, payload: `{"state":{"reported":{"b":1}},"version":2}`},
	})
	require.JSONEq(t, `{"state":{"reported":{"b":1}},"version":3}`, stateAfterStore(t, st), "nothing of before the delete")
}

func TestDeleteIgnoresTheContent(t *testing.T) {
	st := NewStore(Limits{})
	run(t, st, []step{
		update(`{"state":{"reported":{"a":1}}}`),
		{op: shadowtopic.Delete, payload: "not json at all", want: `{"version":1,"timestamp":1700000000}`},
	})
}

func TestNamedShadowsAreSeparate(t *testing.T) {
	st := NewStore(Limits{})
	run(t, st, []step{
		{op: shadowtopic.Update, shadow: named, payload: `{"state":{"reported":{"mode":"eco"}}}`},
		{op: shadowtopic.Get, code: 404, want: `{"code":404,"message":"No shadow exists with name: 'Bot'"}`},
		{op: shadowtopic.Get, shadow: shadowtopic.Shadow{Thing: "Bot", Name: "other"}, code: 404,
			want: `{"code":404,"message":"No shadow exists with name: 'Bot~other'"}`},
		{op: shadowtopic.Update, payload: `{"state":{"reported":{"mode":"classic"}}}`},
		{op: shadowtopic.Delete, shadow: named},
		{op: shadowtopic.Get, shadow: named, code: 404, want: `{"code":404,"message":"No shadow exists with name: 'Bot~config'"}`},
	})
	require.JSONEq(t, `{"state":{"reported":{"mode":"classic"}},"version":1}`, stateAfterStore(t, st))
}

func TestErrors(t *testing.T) {
	long := strings.Repeat("t", MaxClientTokenBytes)
	tests := []struct {
		name    string
		op      shadowtopic.Op
		shadow  shadowtopic.Shadow
		payload string
		want    string
	}{
		{"invalid JSON", shadowtopic.Update, bot, `{"state":`, `{"code":400,"message":"Invalid JSON"}`},
		{"trailing data", shadowtopic.Update, bot, `{"state":{}} x`, `{"code":400,"message":"Invalid JSON"}`},
		{"not an object", shadowtopic.Update, bot, `["state"]`, `{"code":400,"message":"Invalid JSON"}`},
		{"an empty update", shadowtopic.Update, bot, ``, `{"code":400,"message":"Invalid JSON"}`},
		{"get with invalid JSON", shadowtopic.Get, bot, `{`, `{"code":400,"message":"Invalid JSON"}`},
		{"missing state", shadowtopic.Update, bot, `{"desired":{"a":1},"clientToken":"m"}`, `{"code":400,"message":"Missing required node: state","clientToken":"m"}`},
		{"state not an object", shadowtopic.Update, bot, `{"state":[1]}`, `{"code":400,"message":"State node must be an object"}`},
		{"desired not an object", shadowtopic.Update, bot, `{"state":{"desired":5}}`, `{"code":400,"message":"Desired node must be an object"}`},
		{"reported not an object", shadowtopic.Update, bot, `{"state":{"reported":"on"}}`, `{"code":400,"message":"Reported node must be an object"}`},
		{"an invalid node under state", shadowtopic.Update, bot, `{"state":{"delta":{"a":1}}}`, `{"code":400,"message":"State contains an invalid node"}`},
		{"a null in an array", shadowtopic.Update, bot, `{"state":{"desired":{"colors":[null,"RED"]}}}`, `{"code":400,"message":"Invalid JSON"}`},
		{"a version that is a string", shadowtopic.Update, bot, `{"state":{},"version":"1","clientToken":"v"}`, `{"code":400,"message":"Invalid version","clientToken":"v"}`},
		{"a fractional version", shadowtopic.Update, bot, `{"state":{},"version":1.5}`, `{"code":400,"message":"Invalid version"}`},
		{"a negative version", shadowtopic.Update, bot, `{"state":{},"version":-1}`, `{"code":400,"message":"Invalid version"}`},
		{"a clientToken of 65 bytes (not echoed)", shadowtopic.Update, bot, `{"state":{},"clientToken":"` + long + `x"}`, `{"code":400,"message":"Invalid clientToken"}`},
		{"a clientToken of 65 bytes on get", shadowtopic.Get, bot, `{"clientToken":"` + long + `x"}`, `{"code":400,"message":"Invalid clientToken"}`},
		{"a clientToken that is not a string", shadowtopic.Update, bot, `{"state":{},"clientToken":7}`, `{"code":400,"message":"Invalid clientToken"}`},
		{"seven levels", shadowtopic.Update, bot, `{"state":{"reported":{"1":{"2":{"3":{"4":{"5":{"6":{"7":1}}}}}}}}}`, `{"code":400,"message":"JSON contains too many levels of nesting; maximum is 6"}`},
		{"seven levels through arrays", shadowtopic.Update, bot, `{"state":{"desired":{"1":[[[[[[1]]]]]]}}}`, `{"code":400,"message":"JSON contains too many levels of nesting; maximum is 6"}`},
		{"invalid UTF-8", shadowtopic.Update, bot, "{\"state\":{\"reported\":{\"a\":\"\xff\"}}}", `{"code":415,"message":"Unsupported documented encoding; supported encoding is UTF-8"}`},
		{"invalid UTF-8 on get", shadowtopic.Get, bot, "\xff", `{"code":415,"message":"Unsupported documented encoding; supported encoding is UTF-8"}`},
		{"a thing name with a dot", shadowtopic.Get, shadowtopic.Shadow{Thing: "a.b"}, ``,
			`{"code":400,"message":"Invalid shadow: the thing name \"a.b\" contains '.'; AWS IoT allows only a-z, A-Z, 0-9, ':', '_' and '-'"}`},
		{"a thing name of 129 bytes", shadowtopic.Get, shadowtopic.Shadow{Thing: strings.Repeat("a", 129)}, ``,
			`{"code":400,"message":"Invalid shadow: the thing name is 129 bytes, more than AWS IoT's 128"}`},
		{"a shadow name of 65 bytes", shadowtopic.Update, shadowtopic.Shadow{Thing: "a", Name: strings.Repeat("n", 65)}, `{"state":{}}`,
			`{"code":400,"message":"Invalid shadow: the shadow name is 65 bytes, more than AWS IoT's 64"}`},
		{"an unknown operation", "list", bot, ``, `{"code":400,"message":"Unknown operation \"list\""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := NewStore(Limits{})
			run(t, st, []step{update(`{"state":{"reported":{"keep":1}}}`)})
			res := st.Do(tt.op, tt.shadow, []byte(tt.payload), t0)
			require.NotNil(t, res.Err)
			require.JSONEq(t, tt.want, string(res.Payload))
			require.Nil(t, res.Delta)
			require.Nil(t, res.Documents)
			if tt.shadow == bot {
				require.JSONEq(t, `{"state":{"reported":{"keep":1}},"version":1}`, stateAfterStore(t, st), "nothing changed")
			}
		})
	}
}

func TestLimitsAtTheirBoundaries(t *testing.T) {
	t.Run("a 64-byte clientToken is echoed", func(t *testing.T) {
		tok := strings.Repeat("t", MaxClientTokenBytes)
		res := NewStore(Limits{}).Do(shadowtopic.Update, bot, []byte(`{"state":{},"clientToken":"`+tok+`"}`), t0)
		require.Nil(t, res.Err)
		require.Contains(t, string(res.Payload), `"clientToken":"`+tok+`"`)
	})
	t.Run("six levels pass, and the depth is configurable", func(t *testing.T) {
		six := `{"state":{"reported":{"1":{"2":{"3":{"4":{"5":{"6":1}}}}}}}}` // reported is level 1
		require.Nil(t, NewStore(Limits{}).Do(shadowtopic.Update, bot, []byte(six), t0).Err)
		res := NewStore(Limits{MaxDepth: 5}).Do(shadowtopic.Update, bot, []byte(six), t0)
		require.JSONEq(t, `{"code":400,"message":"JSON contains too many levels of nesting; maximum is 5"}`, string(res.Payload))
	})
	// The stored state {"desired":{"k":"…"}} is 20 bytes plus the string.
	doc := func(n int) []byte {
		return fmt.Appendf(nil, `{"state":{"desired":{"k":"%s"}}}`, strings.Repeat("x", n))
	}
	t.Run("8192 bytes of state pass, 8193 are 413", func(t *testing.T) {
		require.Nil(t, NewStore(Limits{}).Do(shadowtopic.Update, bot, doc(DefaultMaxDocumentBytes-20), t0).Err)
		res := NewStore(Limits{}).Do(shadowtopic.Update, bot, doc(DefaultMaxDocumentBytes-19), t0)
		require.JSONEq(t, `{"code":413,"message":"The payload exceeds the maximum size allowed"}`, string(res.Payload))
	})
	t.Run("the limit applies to the merged document, not the request", func(t *testing.T) {
		st := NewStore(Limits{})
		run(t, st, []step{
			{op: shadowtopic.Update, payload: string(doc(8000))},
			{op: shadowtopic.Update, payload: `{"state":{"reported":{"b":"` + strings.Repeat("y", 200) + `"}},"clientToken":"big"}`, code: 413,
				want: `{"code":413,"message":"The payload exceeds the maximum size allowed","clientToken":"big"}`},
			{op: shadowtopic.Update, payload: `{"state":{"desired":{"k":null}}}`},
		})
		require.JSONEq(t, `{"state":{},"version":2}`, stateAfterStore(t, st), "the rejected update changed nothing; deleting made room")
	})
	t.Run("metadata does not count", func(t *testing.T) {
		st := NewStore(Limits{MaxDocumentBytes: 40})
		run(t, st, []step{update(`{"state":{"reported":{"a":1,"b":2,"c":3}}}`)}) // {"reported":{"a":1,"b":2,"c":3}}: 33 bytes
	})
}

func TestThrottledEchoesTheToken(t *testing.T) {
	st := NewStore(Limits{})
	res := st.Throttled(bot, []byte(`{"clientToken":"busy","state":{}}`), 10)
	require.Equal(t, 429, res.Code())
	require.JSONEq(t, `{"code":429,"message":"Too many in-flight requests on this connection; the limit is 10","clientToken":"busy"}`, string(res.Payload))
}
