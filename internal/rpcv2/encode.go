package rpcv2

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Marshal encodes v as CBOR: definite lengths, integers and lengths in
// their shortest form, floats as double precision, struct members in
// declaration order (nil pointers, slices and maps left out, and empty
// values of `omitempty` members), map keys sorted, timestamps as tag 1
// around integer epoch seconds, or a float when there are milliseconds.
// Text that is not valid UTF-8 is repaired with U+FFFD, since a strict
// client would refuse the whole body over it.
func Marshal(v any) ([]byte, error) {
	e := encoder{buf: make([]byte, 0, 256)}
	if err := e.value(reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	return e.buf, nil
}

type encoder struct{ buf []byte }

func (e *encoder) value(v reflect.Value) error {
	if !v.IsValid() {
		e.buf = append(e.buf, majorSimple<<5|infoNull)
		return nil
	}
	if isTime(v.Type()) {
		t := v
		if t.Type() != timeType {
			t = t.Field(0)
		}
		e.buf = appendTime(e.buf, t.Interface().(time.Time))
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.buf = append(e.buf, majorSimple<<5|infoNull)
			return nil
		}
		return e.value(v.Elem())
	case reflect.String:
		e.buf = appendText(e.buf, v.String())
	case reflect.Bool:
		if v.Bool() {
			e.buf = append(e.buf, majorSimple<<5|infoTrue)
		} else {
			e.buf = append(e.buf, majorSimple<<5|infoFalse)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.buf = appendInt(e.buf, v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		e.buf = appendHead(e.buf, majorUint, v.Uint())
	case reflect.Float32:
		e.buf = append(e.buf, majorSimple<<5|infoFloat32)
		e.buf = binary.BigEndian.AppendUint32(e.buf, math.Float32bits(float32(v.Float())))
	case reflect.Float64:
		e.buf = appendFloat64(e.buf, v.Float())
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			e.buf = appendHead(e.buf, majorBytes, uint64(v.Len()))
			for i := range v.Len() {
				e.buf = append(e.buf, byte(v.Index(i).Uint()))
			}
			return nil
		}
		e.buf = appendHead(e.buf, majorArray, uint64(v.Len()))
		for i := range v.Len() {
			if err := e.value(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("rpcv2: cannot encode %s: map keys must be strings", v.Type())
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		e.buf = appendHead(e.buf, majorMap, uint64(len(keys)))
		for _, k := range keys {
			e.buf = appendText(e.buf, k.String())
			if err := e.value(v.MapIndex(k)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		info := fieldsOf(v.Type())
		n := 0
		for _, f := range info.fields {
			if !omitted(f, v.Field(f.index)) {
				n++
			}
		}
		e.buf = appendHead(e.buf, majorMap, uint64(n))
		for _, f := range info.fields {
			fv := v.Field(f.index)
			if omitted(f, fv) {
				continue
			}
			e.buf = appendText(e.buf, f.name)
			if err := e.value(fv); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("rpcv2: cannot encode %s", v.Type())
	}
	return nil
}

// omitted: nil members are absent in Smithy terms; omitempty as in JSON.
func omitted(f field, v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		if v.IsNil() {
			return true
		}
	}
	if !f.omitEmpty {
		return false
	}
	switch v.Kind() {
	case reflect.String, reflect.Map, reflect.Slice, reflect.Array:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	}
	return false
}

// appendHead writes a head with its argument in the shortest form.
func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

func appendInt(b []byte, n int64) []byte {
	if n >= 0 {
		return appendHead(b, majorUint, uint64(n))
	}
	return appendHead(b, majorNegInt, uint64(-1-n))
}

func appendFloat64(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, majorSimple<<5|infoFloat64), math.Float64bits(f))
}

func appendText(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return append(appendHead(b, majorText, uint64(len(s))), s...)
}

// appendTime writes tag 1 around epoch seconds: an integer, or a double
// when the time has milliseconds. smithy-go reads a double as
// time.UnixMilli(int64(f*1e3)), which truncates; the double is chosen so
// that f*1e3 is not short of the milliseconds (a nudge of one ulp, far
// below a millisecond for readers that round).
func appendTime(b []byte, t time.Time) []byte {
	b = appendHead(b, majorTag, tagEpoch)
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return appendInt(b, ms/1000)
	}
	f := float64(ms) / 1e3
	switch {
	case ms > 0:
		for f*1e3 < float64(ms) {
			f = math.Nextafter(f, math.Inf(1))
		}
	default:
		for f*1e3 > float64(ms) {
			f = math.Nextafter(f, math.Inf(-1))
		}
	}
	return appendFloat64(b, f)
}

var timeType = reflect.TypeFor[time.Time]()

// isTime: time.Time, or a struct that only embeds one (awsproto.Timestamp).
func isTime(t reflect.Type) bool {
	if t == timeType {
		return true
	}
	return t.Kind() == reflect.Struct && t.NumField() == 1 && t.Field(0).Anonymous && t.Field(0).Type == timeType
}

type field struct {
	name      string
	index     int
	omitEmpty bool
}

type structInfo struct {
	fields []field
	byName map[string]int
}

var structCache sync.Map // reflect.Type -> *structInfo

// fieldsOf lists a struct's members: exported fields, named by the `cbor`
// tag, else the `json` tag, else the field name; "-" leaves one out.
func fieldsOf(t reflect.Type) *structInfo {
	if v, ok := structCache.Load(t); ok {
		return v.(*structInfo)
	}
	info := &structInfo{byName: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag, ok := sf.Tag.Lookup("cbor")
		if !ok {
			tag = sf.Tag.Get("json")
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if name == "" {
			if sf.Anonymous {
				continue
			}
			name = sf.Name
		}
		if _, dup := info.byName[name]; dup {
			continue
		}
		omit := false
		for o := range strings.SplitSeq(opts, ",") {
			omit = omit || o == "omitempty"
		}
		info.byName[name] = len(info.fields)
		info.fields = append(info.fields, field{name: name, index: i, omitEmpty: omit})
	}
	v, _ := structCache.LoadOrStore(t, info)
	return v.(*structInfo)
}
