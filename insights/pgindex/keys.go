package pgindex

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
)

// A session's keys are the elements of its keys bytea[] column, indexed by
// GIN: one per distinct leaf value (term) and per distinct analyzed token
// (match) of each path. A key is
//
//	uvarint(path ID) | kind | payload
//
// where kind is kindNumber, kindString or kindBool for a leaf and
// kindToken for a token. The path ID is prefix-free, so the keys of one
// path are exactly those between prefix|kindNumber and prefix|kindToken.
// Payloads order as driver.Compare orders values, so the smallest and the
// largest key of a path are the values a sort picks:
//
//	number: 8 bytes that order as the float64 does (sign bit flipped for
//	        positives, every bit flipped for negatives; -0 taken as 0),
//	        then the canonical text (a term compares texts: two numbers of
//	        one float64 but different digits stay distinct)
//	string: the bytes, or the first maxPayload bytes and the SHA-256 of the
//	        whole when longer (PostgreSQL bounds an index key to a third of
//	        a page): a term on such a string is still exact, and a sort
//	        orders two of them sharing their first maxPayload bytes by
//	        digest instead of by the rest
//	bool:   0 or 1
//	token:  as a string
const (
	kindNumber byte = 1
	kindString byte = 2
	kindBool   byte = 3
	kindToken  byte = 4
)

// maxPayload bounds the text kept in a key.
const maxPayload = 1024

func pathPrefix(pid int64) []byte { return binary.AppendUvarint(nil, uint64(pid)) }

func appendText(b []byte, s string) []byte {
	if len(s) <= maxPayload {
		return append(b, s...)
	}
	sum := sha256.Sum256([]byte(s))
	b = append(b, s[:maxPayload]...)
	return append(b, sum[:]...)
}

// sortableBits encodes f so that bytewise order is numeric order.
func sortableBits(b []byte, f float64) []byte {
	if f == 0 {
		f = 0 // -0 sorts as 0
	}
	bits := math.Float64bits(f)
	if bits>>63 == 0 {
		bits |= 1 << 63
	} else {
		bits = ^bits
	}
	return binary.BigEndian.AppendUint64(b, bits)
}

// valueKey appends the key of leaf value v at the path whose prefix b is.
func valueKey(b []byte, v driver.Value) []byte {
	switch v.Kind {
	case driver.Number:
		b = append(b, kindNumber)
		b = sortableBits(b, v.Num)
		return append(b, v.Text...)
	case driver.Bool:
		if v.Text == "true" {
			return append(b, kindBool, 1)
		}
		return append(b, kindBool, 0)
	}
	return appendText(append(b, kindString), v.Text)
}

func tokenKey(b []byte, tok string) []byte { return appendText(append(b, kindToken), tok) }

// termProbes returns the keys a term clause of text t matches at the path of
// prefix p: the string t, and the number or boolean that t is the canonical
// text of (a term compares texts whatever the kinds).
func termProbes(p []byte, t string) [][]byte {
	out := [][]byte{valueKey(slices.Clone(p), driver.Value{Kind: driver.String, Text: t})}
	switch t {
	case "true", "false":
		out = append(out, valueKey(slices.Clone(p), driver.Value{Kind: driver.Bool, Text: t}))
	}
	if n := insights.ValueOf(json.Number(t)); n.Kind == driver.Number && n.Text == t {
		out = append(out, valueKey(slices.Clone(p), n))
	}
	return out
}

// sortKey is the part of a leaf key (without its path prefix) that orders
// it: a number's 9 bytes (its text does not order), anything else whole.
func sortKey(k []byte) []byte {
	if len(k) > 9 && k[0] == kindNumber {
		return k[:9]
	}
	return k
}

// docKeys returns the sorted, distinct keys of a document, given its paths'
// prefixes, and the smallest and largest sort key of the path sortPath
// (without prefix; nil when the document has no value there).
func docKeys(doc *driver.Document, prefixes map[string][]byte, sortPath string) (keys [][]byte, lo, hi []byte) {
	keys = make([][]byte, 0, len(doc.Terms)+len(doc.Tokens))
	for _, f := range doc.Terms {
		p := prefixes[f.Path]
		k := valueKey(slices.Clip(p), f.Value)
		keys = append(keys, k)
		if f.Path == sortPath {
			sk := sortKey(k[len(p):])
			if lo == nil || bytes.Compare(sk, lo) < 0 {
				lo = sk
			}
			if hi == nil || bytes.Compare(sk, hi) > 0 {
				hi = sk
			}
		}
	}
	for _, f := range doc.Tokens {
		keys = append(keys, tokenKey(slices.Clip(prefixes[f.Path]), f.Value.Text))
	}
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	return keys, lo, hi
}

// decodeValue reads a leaf key's value back (without its path prefix), for
// aggregations' bucket keys.
func decodeValue(k []byte) (driver.Value, bool) {
	if len(k) == 0 {
		return driver.Value{}, false
	}
	switch k[0] {
	case kindNumber:
		if len(k) < 9 {
			return driver.Value{}, false
		}
		bits := binary.BigEndian.Uint64(k[1:9])
		if bits>>63 == 1 {
			bits &^= 1 << 63
		} else {
			bits = ^bits
		}
		return driver.Value{Kind: driver.Number, Num: math.Float64frombits(bits), Text: string(k[9:])}, true
	case kindString:
		if len(k) > 1+maxPayload {
			return driver.Value{}, false // a digest: the whole text is not in the key
		}
		return driver.Value{Kind: driver.String, Text: string(k[1:])}, true
	case kindBool:
		if len(k) != 2 {
			return driver.Value{}, false
		}
		if k[1] == 1 {
			return driver.Value{Kind: driver.Bool, Text: "true", Num: 1}, true
		}
		return driver.Value{Kind: driver.Bool, Text: "false"}, true
	}
	return driver.Value{}, false
}
