package metering

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Idempotency keys.
//
// A record's Key says what makes two records the same record: for
// BatchMeterUsage and hourly MeterUsage the product, customer (or workload),
// dimension and UTC hour; for AgentCore MeterUsage the workload, product and
// ClientToken. Stores keep a unique index on it and store a record only if
// its Key is new, so the Key decides what a retry finds.
//
// A Key is KeySize bytes, not text:
//
//	bytes 0–3   the UTC hour the record is for, as hours since the Unix
//	            epoch, big-endian; 0 for keys that hold for any hour
//	            (AgentCore's ClientToken keys)
//	bytes 4–19  the first 16 bytes of the SHA-256 of the key's other
//	            parts joined with 0x1f, such as
//	            "bm-product␟<product>␟<account>␟<dimension>"
//
// Leading with the hour makes keys time-ordered: a unique index on them
// takes each hour's records together instead of spreading every hour's
// inserts over the whole index, which kept SQLite's write set, and so its
// commit cost, growing with the table. Hashing the rest makes every key the
// same 20 bytes whatever the lengths of license ARNs and tokens, which
// matters because the key is in the table and again in its index. Two
// different records of one hour share a key only if 128-bit SHA-256
// prefixes collide.
//
// Databases written before this format (keys were the joined parts as
// text, with the hour last) are converted by LegacyKey in the stores'
// migrations, so retries of records stored before an upgrade still find
// them.

// KeySize is the length in bytes of every key the Service makes.
const KeySize = 20

// keySep separates the parts of a key before hashing.
const keySep = 0x1f

// HourKey returns the key of a record kept once per hour: the hour of ts,
// then the hash of parts.
func HourKey(ts time.Time, parts ...string) string {
	return makeKey(hourIndex(ts), parts...)
}

// AnyHourKey returns the key of a record whose identity holds whatever its
// timestamp (AgentCore's ClientToken): a retry with another timestamp must
// find the same key.
func AnyHourKey(parts ...string) string { return makeKey(0, parts...) }

func hourIndex(ts time.Time) uint32 {
	s := ts.Unix()
	h := s / 3600
	if s%3600 < 0 {
		h-- // floor, for times before 1970
	}
	return uint32(h)
}

func makeKey(hour uint32, parts ...string) string {
	h := sha256.New()
	var sep = [1]byte{keySep}
	for i, p := range parts {
		if i > 0 {
			h.Write(sep[:])
		}
		h.Write([]byte(p))
	}
	var b [KeySize]byte
	binary.BigEndian.PutUint32(b[:4], hour)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	copy(b[4:], sum[:KeySize-4])
	return string(b[:])
}

// RecordID returns the MeteringRecordId of the record with key: a UUID
// (version 8, RFC 9562), so that a store need not keep 16 more bytes a
// record to give a retry the id it gave the first call. A store keeps the
// ids that are not RecordID(key), such as those of records stored before
// ids were derived. AWS documents the id only as a unique identifier
// (docs/aws-api.md), so deriving it is not visible to clients.
//
// For a key the Service makes, the id is the key's first 16 bytes (the
// hour, then 96 bits of hash) with the version and variant bits set: a
// SQL view can show it without a hash function (SQLite's usage_records
// does), and ids sort by hour. Two keys of one hour share an id only if
// their hashes' first 90 bits do. A key for any hour (hour 0: AgentCore's
// ClientToken) gives its 16 bytes of hash instead, so that its id does not
// start with zeros and all such keys share 122 bits. Other keys are hashed.
func RecordID(key string) string {
	var b [16]byte
	switch {
	case len(key) == KeySize && key[:4] == "\x00\x00\x00\x00":
		copy(b[:], key[4:])
	case len(key) == KeySize:
		copy(b[:], key)
	default:
		sum := sha256.Sum256([]byte("meterd-record-id\x1f" + key))
		copy(b[:], sum[:])
	}
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	x := hex.EncodeToString(b[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// KeyHour returns the hour a key made by the Service is for, and false for
// keys that hold for any hour or that are not KeySize bytes.
func KeyHour(key string) (time.Time, bool) {
	if len(key) != KeySize {
		return time.Time{}, false
	}
	h := binary.BigEndian.Uint32([]byte(key[:4]))
	if h == 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(h)*3600, 0).UTC(), true
}

// LegacyKey converts a key in the format meterd used before KeySize-byte
// keys ("bm-product␟product␟account␟dimension␟hour", the hour in unix
// seconds, last; "mu-token␟resource␟product␟token" without one) to the
// current format, so that a store's migration can rewrite stored keys. It
// returns false for anything else, such as a key already converted.
func LegacyKey(old string) (string, bool) {
	kind, _, _ := strings.Cut(old, string(rune(keySep)))
	switch kind {
	case "mu-token":
		return AnyHourKey(old), true
	case "bm-product", "bm-license", "mu-hour":
		i := strings.LastIndexByte(old, keySep)
		if i < 0 {
			return "", false
		}
		secs, err := strconv.ParseInt(old[i+1:], 10, 64)
		if err != nil || secs%3600 != 0 {
			return "", false
		}
		return makeKey(hourIndex(time.Unix(secs, 0)), old[:i]), true
	}
	return "", false
}
