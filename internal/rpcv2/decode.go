package rpcv2

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// Major types (RFC 8949 3.1).
const (
	majorUint   = 0
	majorNegInt = 1
	majorBytes  = 2
	majorText   = 3
	majorArray  = 4
	majorMap    = 5
	majorTag    = 6
	majorSimple = 7
)

// Additional information values of major type 7, and the indefinite marker.
const (
	infoFalse     = 20
	infoTrue      = 21
	infoNull      = 22
	infoUndefined = 23
	infoSimple8   = 24
	infoFloat16   = 25
	infoFloat32   = 26
	infoFloat64   = 27
	infoIndef     = 31
)

// Tag numbers with a meaning here.
const (
	tagEpoch        = 1     // epoch-based date/time
	tagSelfDescribe = 55799 // "this is CBOR"; no meaning, skipped wherever it appears
)

// maxEpoch is 9999-12-31T23:59:59Z, as in awsproto.
const maxEpoch = 253402300799

// token is the head of one data item: its major type, additional
// information and argument (a value, a length, a tag number, a simple value
// or a float's bits).
type token struct {
	major byte
	info  byte
	arg   uint64
	at    int // offset of the head, for messages
}

func (t token) indefinite() bool { return t.info == infoIndef }
func (t token) isBreak() bool    { return t.major == majorSimple && t.info == infoIndef }
func (t token) isNull() bool {
	return t.major == majorSimple && (t.info == infoNull || t.info == infoUndefined)
}

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
	d := &decoder{data: body}
	t, err := d.next()
	if err != nil {
		return d.finish(err)
	}
	if t.major != majorMap {
		return awsproto.SerializationError("The request body must be a CBOR map, not %s.", describe(t))
	}
	if err := d.value(t, rv.Elem()); err != nil {
		return d.finish(err)
	}
	if d.off != len(d.data) {
		return awsproto.SerializationError("The request body has %d bytes after its CBOR map.", len(d.data)-d.off)
	}
	return nil
}

// Valid reports whether body is one well-formed CBOR data item within the
// decoder's bounds, with valid UTF-8 in its text strings.
func Valid(body []byte) error {
	d := &decoder{data: body}
	t, err := d.token()
	if err == nil {
		err = d.skip(t)
	}
	if err == nil && d.off != len(d.data) {
		err = d.syntaxf(d.off, "%d bytes after the data item", len(d.data)-d.off)
	}
	return d.finish(err)
}

type decoder struct {
	data  []byte
	off   int
	depth int
	items int
	path  []segment // where the decoder is, for messages
}

// segment is one step of a path: a member or key name, or an index.
type segment struct {
	name  string
	index int // -1 for a name
}

// errAt is a client error: malformed CBOR or a value that does not fit.
type errAt struct{ msg string }

func (e *errAt) Error() string { return e.msg }

// finish turns an internal error into the error Unmarshal reports.
func (d *decoder) finish(err error) error {
	switch e := err.(type) {
	case nil:
		return nil
	case *awsproto.Error:
		return e
	case *errAt:
		return awsproto.SerializationError("%s", e.msg)
	default:
		return err
	}
}

func (d *decoder) syntaxf(at int, format string, args ...any) error {
	return &errAt{msg: fmt.Sprintf("The request body is not well-formed CBOR: %s (at byte %d).", fmt.Sprintf(format, args...), at)}
}

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

func (d *decoder) typeError(t token, want string) error {
	return &errAt{msg: fmt.Sprintf("Value of type %s at %s cannot be read as %s.", describe(t), d.where(), want)}
}

func (d *decoder) rangeError(value, want string) error {
	return &errAt{msg: fmt.Sprintf("Value %s at %s is out of range for %s.", value, d.where(), want)}
}

// describe names an item's type for messages.
func describe(t token) string {
	switch t.major {
	case majorUint, majorNegInt:
		return "integer"
	case majorBytes:
		return "byte string"
	case majorText:
		return "text string"
	case majorArray:
		return "array"
	case majorMap:
		return "map"
	case majorTag:
		return "tag " + strconv.FormatUint(t.arg, 10)
	}
	switch t.info {
	case infoFalse, infoTrue:
		return "boolean"
	case infoNull:
		return "null"
	case infoUndefined:
		return "undefined"
	case infoFloat16, infoFloat32, infoFloat64:
		return "float"
	case infoIndef:
		return "break"
	}
	return "simple value " + strconv.FormatUint(t.arg, 10)
}

// token reads one head.
func (d *decoder) token() (token, error) {
	if d.off >= len(d.data) {
		return token{}, d.syntaxf(d.off, "unexpected end of data")
	}
	ib := d.data[d.off]
	t := token{major: ib >> 5, info: ib & 0x1f, at: d.off}
	d.off++
	switch {
	case t.info < 24:
		t.arg = uint64(t.info)
	case t.info <= 27:
		n := 1 << (t.info - 24)
		if len(d.data)-d.off < n {
			return token{}, d.syntaxf(t.at, "unexpected end of data")
		}
		b := d.data[d.off : d.off+n]
		d.off += n
		switch n {
		case 1:
			t.arg = uint64(b[0])
		case 2:
			t.arg = uint64(binary.BigEndian.Uint16(b))
		case 4:
			t.arg = uint64(binary.BigEndian.Uint32(b))
		default:
			t.arg = binary.BigEndian.Uint64(b)
		}
		if t.major == majorSimple && t.info == infoSimple8 && t.arg < 32 {
			return token{}, d.syntaxf(t.at, "simple value %d in its two-byte form", t.arg)
		}
	case t.info == infoIndef:
		switch t.major {
		case majorBytes, majorText, majorArray, majorMap, majorSimple:
		default:
			return token{}, d.syntaxf(t.at, "major type %d cannot have indefinite length", t.major)
		}
	default:
		return token{}, d.syntaxf(t.at, "reserved additional information %d", t.info)
	}
	return t, nil
}

// next reads one head, passing over self-described CBOR tags.
func (d *decoder) next() (token, error) {
	for {
		t, err := d.token()
		if err != nil || t.major != majorTag || t.arg != tagSelfDescribe {
			return t, err
		}
	}
}

func (d *decoder) enter(at int) error {
	d.depth++
	if d.depth > MaxDepth {
		return d.syntaxf(at, "nesting deeper than %d levels", MaxDepth)
	}
	return nil
}

// count checks a definite length of n items (per data items each, at least
// a byte apiece) against the data left, and charges them.
func (d *decoder) count(n uint64, per int, at int) error {
	if n > uint64(len(d.data)-d.off)/uint64(per) {
		return d.syntaxf(at, "a length of %d items runs past the end of data", n)
	}
	return d.charge(int(n))
}

// charge counts n items against MaxItems.
func (d *decoder) charge(n int) error {
	d.items += n
	if d.items > MaxItems {
		return awsproto.SerializationError("The request body holds more than %d items.", MaxItems)
	}
	return nil
}

// take returns the next n bytes, aliasing the body.
func (d *decoder) take(n uint64, at int) ([]byte, error) {
	if n > uint64(len(d.data)-d.off) {
		return nil, d.syntaxf(at, "a length of %d bytes runs past the end of data", n)
	}
	b := d.data[d.off : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

// str reads the content of a byte or text string, definite or chunked.
// keep=false only checks it. Text must be valid UTF-8, chunk by chunk.
func (d *decoder) str(t token, keep bool) ([]byte, error) {
	if !t.indefinite() {
		b, err := d.take(t.arg, t.at)
		if err == nil && t.major == majorText && !utf8.Valid(b) {
			err = d.syntaxf(t.at, "text string is not valid UTF-8")
		}
		return b, err
	}
	var buf []byte
	for {
		c, err := d.token()
		if err != nil {
			return nil, err
		}
		if c.isBreak() {
			if keep && buf == nil {
				buf = []byte{}
			}
			return buf, nil
		}
		if c.major != t.major || c.indefinite() {
			return nil, d.syntaxf(c.at, "a chunk of an indefinite-length string must be a definite-length string of the same type")
		}
		b, err := d.str(c, false)
		if err != nil {
			return nil, err
		}
		if keep {
			buf = append(buf, b...)
		}
	}
}

// skip checks an item it has no use for and moves past it.
func (d *decoder) skip(t token) error {
	switch t.major {
	case majorUint, majorNegInt:
		return nil
	case majorBytes, majorText:
		_, err := d.str(t, false)
		return err
	case majorArray, majorMap:
		if err := d.enter(t.at); err != nil {
			return err
		}
		per := 1
		if t.major == majorMap {
			per = 2
		}
		if !t.indefinite() {
			if err := d.count(t.arg, per, t.at); err != nil {
				return err
			}
			for i := uint64(0); i < t.arg*uint64(per); i++ {
				c, err := d.token()
				if err == nil {
					err = d.skip(c)
				}
				if err != nil {
					return err
				}
			}
		} else {
			for {
				c, err := d.token()
				if err != nil {
					return err
				}
				if c.isBreak() {
					break
				}
				if err := d.charge(1); err != nil {
					return err
				}
				if err := d.skip(c); err != nil {
					return err
				}
				if per == 2 {
					if c, err = d.token(); err == nil {
						err = d.skip(c)
					}
					if err != nil {
						return err
					}
				}
			}
		}
		d.depth--
		return nil
	case majorTag:
		if err := d.enter(t.at); err != nil {
			return err
		}
		c, err := d.token()
		if err == nil {
			err = d.skip(c)
		}
		d.depth--
		return err
	default:
		if t.isBreak() {
			return d.syntaxf(t.at, "break outside an indefinite-length item")
		}
		return nil
	}
}

// value reads the item t heads into v.
func (d *decoder) value(t token, v reflect.Value) error {
	if t.isBreak() {
		return d.syntaxf(t.at, "break outside an indefinite-length item")
	}
	if t.isNull() {
		return nil // absent: v keeps its zero value
	}
	if isTime(v.Type()) {
		return d.timestamp(t, v)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.value(t, v.Elem())
	case reflect.String:
		if t.major != majorText {
			return d.mismatch(t, "a string")
		}
		b, err := d.str(t, true)
		if err != nil {
			return err
		}
		v.SetString(string(b))
		return nil
	case reflect.Bool:
		if t.major != majorSimple || (t.info != infoFalse && t.info != infoTrue) {
			return d.mismatch(t, "a boolean")
		}
		v.SetBool(t.info == infoTrue)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return d.integer(t, v)
	case reflect.Float32, reflect.Float64:
		return d.float(t, v)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if t.major != majorBytes {
				return d.mismatch(t, "a blob")
			}
			b, err := d.str(t, true)
			if err != nil {
				return err
			}
			v.SetBytes(append([]byte{}, b...))
			return nil
		}
		if t.major != majorArray {
			return d.mismatch(t, "a list")
		}
		return d.array(t, v)
	case reflect.Map:
		if t.major != majorMap {
			return d.mismatch(t, "a map")
		}
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("rpcv2: cannot decode into %s: map keys must be strings", v.Type())
		}
		return d.mapping(t, v)
	case reflect.Struct:
		if t.major != majorMap {
			return d.mismatch(t, "a structure")
		}
		return d.structure(t, v)
	}
	return fmt.Errorf("rpcv2: cannot decode into %s", v.Type())
}

// mismatch reports a type error, first checking that the item is at least
// well-formed, so that malformed input is reported as such.
func (d *decoder) mismatch(t token, want string) error {
	if err := d.skip(t); err != nil {
		return err
	}
	return d.typeError(t, want)
}

func (d *decoder) integer(t token, v reflect.Value) error {
	if t.major != majorUint && t.major != majorNegInt {
		return d.mismatch(t, "an integer")
	}
	neg := t.major == majorNegInt
	switch v.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if neg || v.OverflowUint(t.arg) {
			return d.rangeError(intString(t), "an unsigned "+strconv.Itoa(v.Type().Bits())+"-bit integer")
		}
		v.SetUint(t.arg)
		return nil
	}
	var n int64
	over := t.arg > math.MaxInt64
	switch {
	case !neg && over:
		n = math.MaxInt64
	case !neg:
		n = int64(t.arg)
	case over:
		n = math.MinInt64
	default:
		n = -1 - int64(t.arg)
	}
	// A 64-bit member saturates, as awsproto.Integer does, so that the
	// operation's range check reports the value; narrower ones refuse it.
	if v.Type().Bits() < 64 && (over || v.OverflowInt(n)) {
		return d.rangeError(intString(t), "a "+strconv.Itoa(v.Type().Bits())+"-bit integer")
	}
	v.SetInt(n)
	return nil
}

func intString(t token) string {
	if t.major == majorUint {
		return strconv.FormatUint(t.arg, 10)
	}
	n := new(big.Int).SetUint64(t.arg)
	return n.Neg(n.Add(n, big.NewInt(1))).String()
}

// number reads an integer or float item as a float64.
func number(t token) (float64, bool) {
	switch {
	case t.major == majorUint:
		return float64(t.arg), true
	case t.major == majorNegInt:
		return -1 - float64(t.arg), true
	case t.major != majorSimple:
		return 0, false
	case t.info == infoFloat16:
		return float16(uint16(t.arg)), true
	case t.info == infoFloat32:
		return float64(math.Float32frombits(uint32(t.arg))), true
	case t.info == infoFloat64:
		return math.Float64frombits(t.arg), true
	}
	return 0, false
}

// float16 converts IEEE 754 half precision bits (RFC 8949 appendix D).
func float16(h uint16) float64 {
	exp, mant := int(h>>10)&0x1f, float64(h&0x3ff)
	var f float64
	switch exp {
	case 0:
		f = math.Ldexp(mant, -24)
	case 31:
		if mant == 0 {
			f = math.Inf(1)
		} else {
			f = math.NaN()
		}
	default:
		f = math.Ldexp(mant+1024, exp-25)
	}
	if h&0x8000 != 0 {
		return -f
	}
	return f
}

func (d *decoder) float(t token, v reflect.Value) error {
	f, ok := number(t)
	if !ok {
		return d.mismatch(t, "a number")
	}
	if v.Kind() == reflect.Float32 && !math.IsInf(f, 0) && !math.IsNaN(f) && v.OverflowFloat(f) {
		return d.rangeError(strconv.FormatFloat(f, 'g', -1, 64), "a 32-bit float")
	}
	v.SetFloat(f)
	return nil
}

// timestamp reads tag 1 around epoch seconds (an integer or a float), or
// the bare number, to the millisecond as awsproto does.
func (d *decoder) timestamp(t token, v reflect.Value) error {
	start := t
	if t.major == majorTag {
		if t.arg != tagEpoch {
			return d.mismatch(t, "a timestamp (tag 1 around epoch seconds)")
		}
		var err error
		if t, err = d.token(); err != nil {
			return err
		}
	}
	var tm time.Time
	switch f, ok := number(t); {
	case !ok:
		if start.major == majorTag {
			return d.mismatch(t, "epoch seconds")
		}
		return d.mismatch(t, "a timestamp (tag 1 around epoch seconds)")
	case t.major == majorUint && t.arg <= maxEpoch:
		tm = time.Unix(int64(t.arg), 0).UTC()
	case t.major == majorNegInt && t.arg < maxEpoch:
		tm = time.Unix(-1-int64(t.arg), 0).UTC()
	case math.IsNaN(f) || math.Abs(f) > maxEpoch:
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if t.major != majorSimple {
			s = intString(t)
		}
		return d.rangeError(s, "a timestamp")
	default:
		tm = time.UnixMilli(int64(math.Round(f * 1000))).UTC()
	}
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(tm))
	} else {
		v.Field(0).Set(reflect.ValueOf(tm))
	}
	return nil
}

func (d *decoder) array(t token, v reflect.Value) error {
	if err := d.enter(t.at); err != nil {
		return err
	}
	hint := 0
	if !t.indefinite() {
		if err := d.count(t.arg, 1, t.at); err != nil {
			return err
		}
		hint = int(min(t.arg, 64))
	}
	s := reflect.MakeSlice(v.Type(), 0, hint)
	zero := reflect.Zero(v.Type().Elem())
	d.path = append(d.path, segment{})
	for i := 0; t.indefinite() || uint64(i) < t.arg; i++ {
		c, err := d.next()
		if err != nil {
			return err
		}
		if t.indefinite() {
			if c.isBreak() {
				break
			}
			if err := d.charge(1); err != nil {
				return err
			}
		}
		d.path[len(d.path)-1] = segment{index: i}
		s = reflect.Append(s, zero)
		if err := d.value(c, s.Index(i)); err != nil {
			return err
		}
	}
	d.path = d.path[:len(d.path)-1]
	d.depth--
	v.Set(s)
	return nil
}

// pairs calls fn for each key of the map t heads, with the key and the
// head of its value; fn must consume the value.
func (d *decoder) pairs(t token, fn func(key string, at int, val token) error) error {
	if err := d.enter(t.at); err != nil {
		return err
	}
	if !t.indefinite() {
		if err := d.count(t.arg, 2, t.at); err != nil {
			return err
		}
	}
	for i := uint64(0); t.indefinite() || i < t.arg; i++ {
		k, err := d.next()
		if err != nil {
			return err
		}
		if t.indefinite() {
			if k.isBreak() {
				break
			}
			if err := d.charge(1); err != nil {
				return err
			}
		}
		if k.major != majorText {
			if err := d.skip(k); err != nil {
				return err
			}
			return &errAt{msg: fmt.Sprintf("A map key at %s is of type %s; keys must be text strings.", d.where(), describe(k))}
		}
		key, err := d.str(k, true)
		if err != nil {
			return err
		}
		val, err := d.next()
		if err != nil {
			return err
		}
		if err := fn(string(key), k.at, val); err != nil {
			return err
		}
	}
	d.depth--
	return nil
}

func (d *decoder) mapping(t token, v reflect.Value) error {
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	kt, et := v.Type().Key(), v.Type().Elem()
	return d.pairs(t, func(key string, at int, val token) error {
		k := reflect.ValueOf(key).Convert(kt)
		if v.MapIndex(k).IsValid() {
			return d.duplicate(key, at)
		}
		e := reflect.New(et).Elem()
		d.path = append(d.path, segment{name: key, index: -1})
		if err := d.value(val, e); err != nil {
			return err
		}
		d.path = d.path[:len(d.path)-1]
		v.SetMapIndex(k, e)
		return nil
	})
}

func (d *decoder) duplicate(key string, at int) error {
	return &errAt{msg: fmt.Sprintf("Key %s appears twice in the map at %s (byte %d).", strconv.Quote(key), d.where(), at)}
}

func (d *decoder) structure(t token, v reflect.Value) error {
	info := fieldsOf(v.Type())
	seen := make([]bool, len(info.fields))
	return d.pairs(t, func(key string, at int, val token) error {
		i, ok := info.byName[key]
		if !ok {
			return d.skip(val)
		}
		if seen[i] {
			return d.duplicate(key, at)
		}
		seen[i] = true
		f := info.fields[i]
		d.path = append(d.path, segment{name: f.name, index: -1})
		if err := d.value(val, v.Field(f.index)); err != nil {
			return err
		}
		d.path = d.path[:len(d.path)-1]
		return nil
	})
}
