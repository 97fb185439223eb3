package rpcv2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/meterd/meterd/internal/awsproto"
)

// Bounds on what a request body may hold. The body itself is capped by
// awsproto.ReadBody; these keep a hostile body within it from costing more
// than a proportionate amount of memory or any amount of stack.
const (
	// MaxDepth is the deepest nesting of arrays, maps and tags.
	MaxDepth = 32
	// MaxItems is the most array elements plus map pairs in one body,
	// skipped members included.
	MaxItems = 1 << 16
)

// maxEpoch is 9999-12-31T23:59:59Z, as in awsproto.
const maxEpoch = 253402300799

// selfDescribed is tag 55799, "this is CBOR" (RFC 8949 3.4.6), in the form
// clients prefix to a body. It means nothing; fxamacker passes over it
// inside the body, and Unmarshal drops it from the front.
var selfDescribed = []byte{0xd9, 0xd9, 0xf7}

// decMode reads request bodies. fxamacker checks the whole body once (well
// formed, nothing after it, MaxDepth, and MaxItems per array or map before
// anything is allocated); then the members a struct knows are decoded one
// level at a time, maps and arrays into raw members and scalars into
// fxamacker's default Go types, which the typed helpers below convert, and
// skipped members are decoded whole into any (maps as map[any]any, the
// default: a newer client's member may have any keys). Text must be valid
// UTF-8 and no map may repeat a key, skipped members included.
var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthAllowed, // smithy-go writes indefinite maps and arrays
		UTF8:             cbor.UTF8RejectInvalid,
		MaxNestedLevels:  MaxDepth,
		MaxArrayElements: MaxItems,
		MaxMapPairs:      MaxItems,
		BigIntDec:        cbor.BigIntDecodePointer,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// Unmarshal reads a request body into v, a non-nil pointer to a struct.
// The body must be one CBOR map, in definite- or indefinite-length form, and
// nothing after it; an empty body reads as an empty map. Members not in the
// struct are skipped (clients may be newer than the server), null and
// undefined leave a member absent. Anything else that does not fit v, a
// duplicate member, malformed CBOR or a body beyond MaxDepth or MaxItems is
// a SerializationException (*awsproto.Error).
func Unmarshal(body []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("rpcv2: Unmarshal needs a non-nil pointer, got %T", v)
	}
	if len(body) == 0 {
		return nil
	}
	d := &decoder{}
	body, err := d.wellformed(body)
	if err != nil {
		return err
	}
	return d.value(body, rv.Elem())
}

// Valid reports whether body is one well-formed CBOR data item within the
// decoder's bounds, with valid UTF-8 in its text strings: whether Unmarshal
// could skip it.
func Valid(body []byte) error {
	d := &decoder{}
	body, err := d.wellformed(body)
	if err == nil {
		err = d.skip(body)
	}
	return err
}

type decoder struct {
	depth int
	items int
	path  []segment // where the decoder is, for messages
}

// segment is one step of a path: a member or key name, or an index.
type segment struct {
	name  string
	index int // -1 for a name
}

// wellformed drops leading self-described tags (a loop, not nesting) and
// has fxamacker check the rest.
func (d *decoder) wellformed(body []byte) ([]byte, error) {
	for bytes.HasPrefix(body, selfDescribed) {
		body = body[len(selfDescribed):]
	}
	if err := decMode.Wellformed(body); err != nil {
		return nil, d.invalid(err)
	}
	return body, nil
}

// scalar decodes raw whole into fxamacker's default Go type: nil for null
// and undefined, bool, uint64, int64, *big.Int below int64, float64,
// string, []byte, cbor.SimpleValue, []any, map[any]any. A tagged item
// comes back as its cbor.RawTag, so that bignums and times are never taken
// for the plain values fxamacker makes of them. Only skipped members and
// values of the wrong type are decoded whole when they are composite.
func (d *decoder) scalar(raw []byte) (any, error) {
	var v any
	if err := decMode.Unmarshal(raw, &v); err != nil {
		return nil, d.invalid(err)
	}
	switch v.(type) {
	case *big.Int, time.Time, cbor.Tag:
		var tag cbor.RawTag
		if ok, err := d.try(raw, &tag); err != nil || ok {
			return tag, err
		}
	}
	return v, nil
}

// try decodes raw into target, reporting false when raw is of another
// type or null (which decodes into anything, as the zero value).
func (d *decoder) try(raw []byte, target any) (bool, error) {
	err := decMode.Unmarshal(raw, target)
	var te *cbor.UnmarshalTypeError
	if errors.As(err, &te) && te.GoType == reflect.TypeOf(target).Elem().String() {
		return false, nil
	}
	if err != nil {
		return false, d.invalid(err)
	}
	return !reflect.ValueOf(target).Elem().IsZero(), nil
}

func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case uint64, int64, *big.Int:
		return "integer"
	case float64:
		return "float"
	case string:
		return "text string"
	case []byte:
		return "byte string"
	case []any:
		return "array"
	case map[any]any:
		return "map"
	case cbor.RawTag:
		return "tag " + strconv.FormatUint(v.Number, 10)
	case cbor.SimpleValue:
		return "simple value " + strconv.Itoa(int(v))
	}
	return fmt.Sprintf("%T", v)
}

// count charges n elements or pairs against MaxItems.
func (d *decoder) count(n int) error {
	d.items += n
	if d.items > MaxItems {
		return tooMany()
	}
	return nil
}

func tooMany() error {
	return awsproto.SerializationError("The request body holds more than %d items.", MaxItems)
}

// enter goes one level down into an array, a map or a tag; leave comes back.
func (d *decoder) enter() error {
	d.depth++
	if d.depth > MaxDepth {
		return tooDeep()
	}
	return nil
}

func tooDeep() error {
	return awsproto.SerializationError("The request body is not valid CBOR: nesting deeper than %d levels.", MaxDepth)
}

func (d *decoder) leave() { d.depth-- }

func (d *decoder) push(s segment) { d.path = append(d.path, s) }
func (d *decoder) pop()           { d.path = d.path[:len(d.path)-1] }

func (d *decoder) where() string {
	if len(d.path) == 0 {
		return "the request body"
	}
	var b strings.Builder
	for i, s := range d.path {
		switch {
		case s.index >= 0:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case i > 0:
			b.WriteString("." + s.name)
		default:
			b.WriteString(s.name)
		}
	}
	return "'" + b.String() + "'"
}

// invalid turns an fxamacker error into a SerializationException.
func (d *decoder) invalid(err error) error {
	var (
		nested *cbor.MaxNestedLevelError
		elems  *cbor.MaxArrayElementsError
		pairs  *cbor.MaxMapPairsError
		dup    *cbor.DupMapKeyError
	)
	switch {
	case errors.As(err, &nested):
		return tooDeep()
	case errors.As(err, &elems), errors.As(err, &pairs):
		return tooMany()
	case errors.As(err, &dup):
		key := fmt.Sprint(dup.Key)
		if s, ok := dup.Key.(string); ok {
			key = strconv.Quote(s)
		}
		return awsproto.SerializationError("Key %s appears twice in the map at %s.", key, d.where())
	}
	msg := strings.TrimPrefix(err.Error(), "cbor: ")
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of data"
	}
	at := ""
	if len(d.path) > 0 {
		at = " at " + d.where()
	}
	return awsproto.SerializationError("The request body is not valid CBOR%s: %s.", at, msg)
}

// mismatch reports that v, a scalar's value, is not what the member wants.
func (d *decoder) mismatch(v any, want string) error {
	if len(d.path) == 0 {
		return awsproto.SerializationError("The request body must be a CBOR map, not %s.", kindOf(v))
	}
	return awsproto.SerializationError("Value of type %s at %s cannot be read as %s.", kindOf(v), d.where(), want)
}

// container decodes an array or a map one level deep into target. A tag
// around one is refused: fxamacker would drop a tag it does not know.
func (d *decoder) container(raw []byte, target any, want string) error {
	var tag cbor.RawTag
	isTag, err := d.try(raw, &tag)
	if err != nil || isTag {
		if err == nil {
			err = d.mismatch(tag, want)
		}
		return err
	}
	if ok, err := d.try(raw, target); err != nil || ok {
		return err
	}
	v, err := d.scalar(raw)
	if err == nil {
		err = d.mismatch(v, want)
	}
	return err
}

func (d *decoder) rangeError(value any, want string) error {
	return awsproto.SerializationError("Value %v at %s is out of range for %s.", value, d.where(), want)
}

// skip checks an item it has no use for, all the way down: fxamacker
// decodes it whole (UTF-8, duplicate keys, tag contents), and walk charges
// what it holds against MaxItems and MaxDepth.
func (d *decoder) skip(raw []byte) error {
	var v any
	if err := decMode.Unmarshal(raw, &v); err != nil {
		return d.invalid(err)
	}
	return d.walk(v)
}

// walk charges the arrays, maps and tags in a decoded item. Tags 0 to 3,
// which fxamacker turns into a time.Time or a *big.Int, are leaves here.
func (d *decoder) walk(v any) error {
	var inner []any
	switch v := v.(type) {
	case []any:
		inner = v
	case map[any]any:
		inner = slices.Collect(maps.Values(v))
	case cbor.Tag:
		inner = []any{v.Content}
	default:
		return nil
	}
	if _, tag := v.(cbor.Tag); !tag {
		if err := d.count(len(inner)); err != nil {
			return err
		}
	}
	if err := d.enter(); err != nil {
		return err
	}
	for _, e := range inner {
		if err := d.walk(e); err != nil {
			return err
		}
	}
	d.leave()
	return nil
}

// value reads raw, which is not null or undefined, into v.
func (d *decoder) value(raw []byte, v reflect.Value) error {
	if isTime(v.Type()) {
		return d.timestamp(raw, v)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.value(raw, v.Elem())
	case reflect.Struct:
		return d.structure(raw, v)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("rpcv2: cannot decode into %s: map keys must be strings", v.Type())
		}
		return d.mapping(raw, v)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Uint8 {
			return d.array(raw, v)
		}
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	default:
		return fmt.Errorf("rpcv2: cannot decode into %s", v.Type())
	}
	x, err := d.scalar(raw)
	if err != nil {
		return err
	}
	switch v.Kind() {
	case reflect.String:
		s, ok := x.(string)
		if !ok {
			return d.mismatch(x, "a string")
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := x.(bool)
		if !ok {
			return d.mismatch(x, "a boolean")
		}
		v.SetBool(b)
	case reflect.Slice:
		b, ok := x.([]byte)
		if !ok {
			return d.mismatch(x, "a blob")
		}
		v.SetBytes(b)
	case reflect.Float32, reflect.Float64:
		return d.float(x, v)
	default:
		return d.integer(x, v)
	}
	return nil
}

// integer never takes a float. A 64-bit signed member saturates, as
// awsproto.Integer does, so that the operation's range check reports the
// value; narrower ones refuse it.
func (d *decoder) integer(x any, v reflect.Value) error {
	bits := strconv.Itoa(v.Type().Bits())
	switch v.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		switch n := x.(type) {
		case uint64:
			if v.OverflowUint(n) {
				return d.rangeError(n, "an unsigned "+bits+"-bit integer")
			}
			v.SetUint(n)
			return nil
		case int64, *big.Int:
			return d.rangeError(n, "an unsigned "+bits+"-bit integer")
		}
		return d.mismatch(x, "an integer")
	}
	var i int64
	over := false
	switch n := x.(type) {
	case uint64:
		i, over = math.MaxInt64, n > math.MaxInt64
		if !over {
			i = int64(n)
		}
	case int64:
		i = n
	case *big.Int:
		i, over = math.MinInt64, true
	default:
		return d.mismatch(x, "an integer")
	}
	if v.Type().Bits() < 64 && (over || v.OverflowInt(i)) {
		return d.rangeError(x, "a "+bits+"-bit integer")
	}
	v.SetInt(i)
	return nil
}

// float takes floats of any width and integers.
func (d *decoder) float(x any, v reflect.Value) error {
	var f float64
	switch n := x.(type) {
	case float64:
		f = n
	case uint64:
		f = float64(n)
	case int64:
		f = float64(n)
	case *big.Int:
		f, _ = new(big.Float).SetInt(n).Float64()
	default:
		return d.mismatch(x, "a number")
	}
	if v.Kind() == reflect.Float32 && !math.IsInf(f, 0) && !math.IsNaN(f) && v.OverflowFloat(f) {
		return d.rangeError(strconv.FormatFloat(f, 'g', -1, 64), "a 32-bit float")
	}
	v.SetFloat(f)
	return nil
}

// timestamp reads tag 1 around epoch seconds (an integer or a float), or
// the bare number, to the millisecond as awsproto does.
func (d *decoder) timestamp(raw []byte, v reflect.Value) error {
	want := "a timestamp (tag 1 around epoch seconds)"
	var tag cbor.RawTag
	ok, err := d.try(raw, &tag)
	if err != nil {
		return err
	}
	if ok {
		if tag.Number != 1 {
			return d.mismatch(tag, want)
		}
		if err := d.enter(); err != nil {
			return err
		}
		defer d.leave()
		raw, want = tag.Content, "epoch seconds"
	}
	x, err := d.scalar(raw)
	if err != nil {
		return err
	}
	var tm time.Time
	switch n := x.(type) {
	case uint64:
		if n > maxEpoch {
			return d.rangeError(n, "a timestamp")
		}
		tm = time.Unix(int64(n), 0)
	case int64:
		if n < -maxEpoch {
			return d.rangeError(n, "a timestamp")
		}
		tm = time.Unix(n, 0)
	case *big.Int:
		return d.rangeError(n, "a timestamp")
	case float64:
		if math.IsNaN(n) || math.Abs(n) > maxEpoch {
			return d.rangeError(strconv.FormatFloat(n, 'g', -1, 64), "a timestamp")
		}
		tm = time.UnixMilli(int64(math.Round(n * 1000)))
	default:
		return d.mismatch(x, want)
	}
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(tm.UTC()))
	} else {
		v.Field(0).Set(reflect.ValueOf(tm.UTC()))
	}
	return nil
}

func (d *decoder) array(raw []byte, v reflect.Value) error {
	var elems []*cbor.RawMessage
	if err := d.container(raw, &elems, "a list"); err != nil {
		return err
	}
	if err := d.count(len(elems)); err != nil {
		return err
	}
	if err := d.enter(); err != nil {
		return err
	}
	s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
	for i, e := range elems {
		if e == nil {
			continue
		}
		d.push(segment{index: i})
		if err := d.value(*e, s.Index(i)); err != nil {
			return err
		}
		d.pop()
	}
	d.leave()
	v.Set(s)
	return nil
}

// object decodes a map for a structure or a map member one level deep: its
// keys, in order, and their values raw (nil where null or undefined).
func (d *decoder) object(raw []byte, want string) ([]string, map[any]*cbor.RawMessage, error) {
	var pairs map[any]*cbor.RawMessage
	if err := d.container(raw, &pairs, want); err != nil {
		return nil, nil, err
	}
	if err := d.count(len(pairs)); err != nil {
		return nil, nil, err
	}
	keys := make([]string, 0, len(pairs))
	for k := range pairs {
		s, ok := k.(string)
		if !ok {
			return nil, nil, awsproto.SerializationError("A map key at %s is of type %s; keys must be text strings.", d.where(), kindOf(k))
		}
		keys = append(keys, s)
	}
	slices.Sort(keys)
	return keys, pairs, d.enter()
}

func (d *decoder) mapping(raw []byte, v reflect.Value) error {
	keys, pairs, err := d.object(raw, "a map")
	if err != nil {
		return err
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(keys)))
	}
	kt, et := v.Type().Key(), v.Type().Elem()
	for _, k := range keys {
		e := reflect.New(et).Elem()
		if raw := pairs[k]; raw != nil {
			d.push(segment{name: k, index: -1})
			if err := d.value(*raw, e); err != nil {
				return err
			}
			d.pop()
		}
		v.SetMapIndex(reflect.ValueOf(k).Convert(kt), e)
	}
	d.leave()
	return nil
}

// structure reads the members v knows, in declaration order, then checks
// the ones it does not.
func (d *decoder) structure(raw []byte, v reflect.Value) error {
	keys, pairs, err := d.object(raw, "a structure")
	if err != nil {
		return err
	}
	info := fieldsOf(v.Type())
	for _, f := range info.fields {
		if raw := pairs[f.name]; raw != nil {
			d.push(segment{name: f.name, index: -1})
			if err := d.value(*raw, v.Field(f.index)); err != nil {
				return err
			}
			d.pop()
		}
	}
	for _, k := range keys {
		if _, known := info.byName[k]; !known && pairs[k] != nil {
			d.push(segment{name: k, index: -1})
			if err := d.skip(*pairs[k]); err != nil {
				return err
			}
			d.pop()
		}
	}
	d.leave()
	return nil
}
