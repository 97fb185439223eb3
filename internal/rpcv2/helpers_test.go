package rpcv2

import (
	"encoding/binary"
	"math"
)

// majorArray and appendHead build test bodies whose declared lengths are
// too long to write out in h's notation (RFC 8949 3: a head is the major
// type and an argument in its shortest form). The package itself writes no
// heads: fxamacker does.
const majorArray = 4

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
