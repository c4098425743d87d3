package broker

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// MarshalText names the kind ("CONNECT", "PUBLISH", …), as String does, so
// that encoding/json and flag.TextVar use the name.
func (k Kind) MarshalText() ([]byte, error) {
	if _, ok := kindNames[k]; !ok {
		return nil, fmt.Errorf("broker: no event kind %d", int(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads a kind by its name, in any case ("CONNECT",
// "connect"); an unknown name is an error that lists the known ones.
func (k *Kind) UnmarshalText(text []byte) error {
	name := strings.ToUpper(string(text))
	for kind, n := range kindNames {
		if n == name {
			*k = kind
			return nil
		}
	}
	return fmt.Errorf("broker: no event kind %q (kinds: %s)", text, strings.Join(KindNames(), ", "))
}

// KindNames returns the names of every kind of event, in the order of the
// Kind constants.
func KindNames() []string {
	kinds := slices.Sorted(maps.Keys(kindNames))
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = kindNames[k]
	}
	return names
}
