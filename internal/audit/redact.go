package audit

import (
	"bytes"
	"encoding/json"
	"strings"
)

// secretNames are the member names whose values the log never keeps,
// compared in lower case without '_' and '-': registration tokens (the
// data plane's ResolveCustomer, the admin API's tokens), access-key
// secrets, and anything that looks like a credential.
var secretNames = map[string]bool{
	"secret":             true,
	"secretaccesskey":    true,
	"awssecretaccesskey": true,
	"sessiontoken":       true,
	"token":              true,
	"registrationtoken":  true,
	"admintoken":         true,
	"password":           true,
	"authorization":      true,
	"privatekey":         true,
	"privatekeypem":      true,
}

// maxSecretName is the length of the longest name in secretNames.
var maxSecretName = func() int {
	n := 0
	for name := range secretNames {
		n = max(n, len(name))
	}
	return n
}()

// mayHoldSecret reports whether a JSON document may have a member that
// IsSecretName: false only when no string in it, member name or value,
// compares as a secret name does. A string with an escape (\u0074oken)
// could spell a name the comparison misses, so a backslash anywhere in a
// string answers true. One pass over the document: searching it for each
// name in turn cost 4% of the server's CPU under BatchMeterUsage load.
func mayHoldSecret(data []byte) bool {
	var name [32]byte
	for i := 0; i < len(data); {
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			return false
		}
		n, long := 0, false
		j := i + q + 1
		for ; j < len(data) && data[j] != '"'; j++ {
			c := data[j]
			switch {
			case c == '\\':
				return true
			case c == '_' || c == '-' || long:
				continue
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			if n == maxSecretName {
				long = true // longer than any secret name
				continue
			}
			name[n] = c
			n++
		}
		if j >= len(data) {
			return true // unterminated: the decoder decides
		}
		if !long && secretNames[string(name[:n])] {
			return true
		}
		i = j + 1
	}
	return false
}

// nameSeparators are what IsSecretName ignores. Built once: a Replacer
// builds its tables on first use, which per call cost more than the rest
// of redaction.
var nameSeparators = strings.NewReplacer("_", "", "-", "")

// IsSecretName reports whether a member called name holds a secret.
func IsSecretName(name string) bool {
	return secretNames[strings.ToLower(nameSeparators.Replace(name))]
}

// Redact replaces, in a value decoded from JSON (maps, slices, scalars),
// every scalar held by a secret member with Hidden. Objects and arrays
// under a secret name are walked rather than hidden whole, so that
// {"registration_token": {"token": …, "product": …}} keeps its product.
func Redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch val.(type) {
			case map[string]any, []any:
				x[k] = Redact(val)
			default:
				if IsSecretName(k) && val != nil {
					x[k] = Hidden
				}
			}
		}
		return x
	case []any:
		for i := range x {
			x[i] = Redact(x[i])
		}
		return x
	}
	return v
}

// MaxElementBytes caps requestParameters and responseElements: a larger
// value is replaced by a note saying how large it was.
const MaxElementBytes = 64 << 10

// RedactJSON returns a JSON document with its secrets hidden, nil for
// empty input or input that is not JSON (which may hide a secret in a form
// the log cannot read), and a note for input over MaxElementBytes.
func RedactJSON(data []byte) json.RawMessage {
	return redactJSON(data, false)
}

// RedactValidJSON is RedactJSON for data that encoding/json has already
// decoded without error, such as a request body its operation accepted: it
// does not check the syntax again, which was most of RedactJSON's cost for
// a BatchMeterUsage body with nothing secret in it.
func RedactValidJSON(data []byte) json.RawMessage {
	return redactJSON(data, true)
}

func redactJSON(data []byte, valid bool) json.RawMessage {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil
	}
	if len(data) > MaxElementBytes {
		return Omitted(len(data))
	}
	if !mayHoldSecret(data) {
		// Nothing to hide: keep the document as sent rather than decode
		// and re-encode it, which cost a tenth of a BatchMeterUsage call.
		if !valid && !json.Valid(data) {
			return nil
		}
		return json.RawMessage(data)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil
	}
	return Marshal(Redact(v))
}

// Marshal encodes v as an element, nil if it cannot be encoded and a note
// if it is over MaxElementBytes.
func Marshal(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	if len(b) > MaxElementBytes {
		return Omitted(len(b))
	}
	return b
}

// Omitted is the element that stands for one too large to keep.
func Omitted(n int) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"omitted": "larger than the audit log keeps", "bytes": n})
	return b
}
