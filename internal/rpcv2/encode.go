package rpcv2

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Two fxamacker modes write responses, alike but for order. fxamacker
// sorts struct members and map keys with one setting, and smithy-go's
// snapshots keep members in declaration order while a map needs a
// deterministic order: so structs go through encMode (unsorted: a mirror
// struct's declaration order, see encodeStruct) and maps through
// sortedMode (RFC 8949 4.2.1 bytewise order of the encoded keys). Both
// write integers and lengths in their shortest form and floats at their Go
// width, NaN and infinities included.
var (
	encMode    = newEncMode(cbor.SortNone)
	sortedMode = newEncMode(cbor.SortBytewiseLexical)
)

func newEncMode(sort cbor.SortMode) cbor.EncMode {
	em, err := cbor.EncOptions{
		Sort:          sort,
		ShortestFloat: cbor.ShortestFloatNone,
		NaNConvert:    cbor.NaNConvertNone,
		InfConvert:    cbor.InfConvertNone,
		IndefLength:   cbor.IndefLengthAllowed, // for ErrorBody
	}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}

// Marshal encodes v as CBOR: definite lengths, integers and lengths in
// their shortest form, floats as double precision (float32 as single),
// struct members in declaration order (nil pointers, slices and maps left
// out, and empty values of `omitempty` members), map keys sorted,
// timestamps as tag 1 around integer epoch seconds, or a float when there
// are milliseconds. Text that is not valid UTF-8 is repaired with U+FFFD,
// since a strict client would refuse the whole body over it.
func Marshal(v any) ([]byte, error) {
	return encode(reflect.ValueOf(v))
}

// encode walks v as the package's mapping says (names, omission, times,
// UTF-8) and has fxamacker write each value; composites are assembled from
// their members' encodings as cbor.RawMessage.
func encode(v reflect.Value) ([]byte, error) {
	if !v.IsValid() {
		return encMode.Marshal(nil)
	}
	if isTime(v.Type()) {
		if v.Type() != timeType {
			v = v.Field(0)
		}
		return encMode.Marshal(epoch(v.Interface().(time.Time)))
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return encMode.Marshal(nil)
		}
		return encode(v.Elem())
	case reflect.String:
		return encMode.Marshal(strings.ToValidUTF8(v.String(), "\uFFFD"))
	case reflect.Bool:
		return encMode.Marshal(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return encMode.Marshal(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return encMode.Marshal(v.Uint())
	case reflect.Float32:
		return encMode.Marshal(float32(v.Float()))
	case reflect.Float64:
		return encMode.Marshal(v.Float())
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			for i := range b {
				b[i] = byte(v.Index(i).Uint())
			}
			return encMode.Marshal(b)
		}
		elems := make([]cbor.RawMessage, v.Len())
		for i := range elems {
			var err error
			if elems[i], err = encode(v.Index(i)); err != nil {
				return nil, err
			}
		}
		return encMode.Marshal(elems)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("rpcv2: cannot encode %s: map keys must be strings", v.Type())
		}
		m := make(map[string]cbor.RawMessage, v.Len())
		for it := v.MapRange(); it.Next(); {
			e, err := encode(it.Value())
			if err != nil {
				return nil, err
			}
			m[strings.ToValidUTF8(it.Key().String(), "\uFFFD")] = e
		}
		return sortedMode.Marshal(m)
	case reflect.Struct:
		return encodeStruct(v)
	}
	return nil, fmt.Errorf("rpcv2: cannot encode %s", v.Type())
}

// mirror is a struct type made to carry one struct type's encoded members:
// field i is member i of fields, a cbor.RawMessage tagged with the member's
// name and omitempty, so that fxamacker writes the members present in
// declaration order.
type mirror struct {
	typ    reflect.Type
	fields []field
}

var mirrors sync.Map // reflect.Type -> *mirror

func mirrorOf(t reflect.Type) *mirror {
	if m, ok := mirrors.Load(t); ok {
		return m.(*mirror)
	}
	info := fieldsOf(t)
	sfs := make([]reflect.StructField, len(info.fields))
	for i, f := range info.fields {
		sfs[i] = reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: reflect.TypeFor[cbor.RawMessage](),
			Tag:  reflect.StructTag(fmt.Sprintf("cbor:%q", f.name+",omitempty")),
		}
	}
	m, _ := mirrors.LoadOrStore(t, &mirror{typ: reflect.StructOf(sfs), fields: info.fields})
	return m.(*mirror)
}

func encodeStruct(v reflect.Value) ([]byte, error) {
	m := mirrorOf(v.Type())
	out := reflect.New(m.typ).Elem()
	for i, f := range m.fields {
		fv := v.Field(f.index)
		if omitted(f, fv) {
			continue
		}
		b, err := encode(fv)
		if err != nil {
			return nil, err
		}
		out.Field(i).SetBytes(b)
	}
	return encMode.Marshal(out.Interface())
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

// epoch is tag 1 around epoch seconds: an integer, or a double when the
// time has milliseconds (finer is dropped). fxamacker's TimeUnixDynamic
// writes the same shape, but smithy-go reads a double as
// time.UnixMilli(int64(f*1e3)), which truncates; so the double is chosen
// here, such that f*1e3 is not short of the milliseconds (a nudge of one
// ulp, far below a millisecond for readers that round).
func epoch(t time.Time) cbor.Tag {
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return cbor.Tag{Number: 1, Content: ms / 1000}
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
	return cbor.Tag{Number: 1, Content: f}
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
