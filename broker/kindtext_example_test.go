package broker_test

import (
	"encoding/json"
	"fmt"

	"github.com/iotmqtt/iotmqtt/broker"
)

// Event kinds read and write as their names, so a filter can come from a
// command line or a URL, and JSON shows the name.
func ExampleKind_UnmarshalText() {
	var k broker.Kind
	if err := k.UnmarshalText([]byte("disconnect")); err != nil {
		panic(err)
	}
	m := broker.Match{Kind: k, ClientID: "thing-1"}
	fmt.Println(m)
	out, _ := json.Marshal(struct{ Kind broker.Kind }{broker.KindDeliver})
	fmt.Println(string(out))
	// Output:
	// {DISCONNECT client=thing-1}
	// {"Kind":"DELIVER"}
}
