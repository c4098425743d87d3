package broker

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Set sets the Profile field named field (its Go name, e.g.
// "SubscribeQoS2") from text, as a command line gives it: a number, a
// duration ("1s", "90m"), true or false, or a Reaction's name ("Grant").
// The error names the field and what it takes. Policy cannot be set from
// text.
func (p *Profile) Set(field, text string) error {
	v := reflect.ValueOf(p).Elem()
	f, ok := v.Type().FieldByName(field)
	if !ok || !f.IsExported() {
		return fmt.Errorf("broker: Profile has no field %q; the fields are %s", field, strings.Join(settableFields(), ", "))
	}
	dst := v.FieldByIndex(f.Index)
	bad := func(what string) error {
		return fmt.Errorf("broker: Profile.%s=%q: %s", field, text, what)
	}
	switch dst.Interface().(type) {
	case Reaction:
		for r, name := range reactionNames {
			if strings.EqualFold(name, text) {
				dst.SetInt(int64(r))
				return nil
			}
		}
		names := slices.Sorted(maps.Values(reactionNames))
		return bad("a reaction is one of " + strings.Join(names, ", "))
	case time.Duration:
		d, err := time.ParseDuration(text)
		if err != nil {
			return bad("a duration such as 500ms, 30s or 1h")
		}
		dst.SetInt(int64(d))
	case bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return bad("true or false")
		}
		dst.SetBool(b)
	case float64:
		x, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return bad("a number")
		}
		dst.SetFloat(x)
	case int:
		n, err := strconv.Atoi(text)
		if err != nil {
			return bad("a whole number")
		}
		dst.SetInt(int64(n))
	case uint16:
		n, err := strconv.ParseUint(text, 10, 16)
		if err != nil {
			return bad("a whole number from 0 to 65535")
		}
		dst.SetUint(n)
	default:
		return bad("this field cannot be set from text")
	}
	return nil
}

// settableFields are the Profile fields Set takes.
func settableFields() []string {
	var names []string
	t := reflect.TypeFor[Profile]()
	for i := range t.NumField() {
		if f := t.Field(i); f.Type.Kind() != reflect.Func {
			names = append(names, f.Name)
		}
	}
	return names
}
