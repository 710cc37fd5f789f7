package pgindex

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
)

// A session's keys are the elements of its keys bytea[] column, indexed by
// GIN: one per distinct leaf value (term) and per distinct analyzed token
// (match) of each path. A key is
//
//	uvarint(path ID) | kind | month | payload
//
// where kind is kindNumber, kindString or kindBool for a leaf and kindToken
// for a token, and month is the UTC calendar month of the session's start
// (2 bytes, months since January 1970). The month makes a key's posting list
// hold the sessions of one month only: every query has a date range (at
// most 60 days, so at most three months), and probes the keys of its months,
// so the lists the index reads are about a twelfth of what a year's would
// be. The path ID is prefix-free, so the keys of one path kind are exactly
// those between prefix|kind and prefix|kind+1.
//
// Payloads order as driver.Compare orders values, so that, once the month
// is cut out (every key of a session has the same), the smallest and the
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
//
// A session's facets (column facets) are its leaf keys without month, of
// the paths whose values are not free text: ID fields (insights.IsIDField),
// numbers and booleans. Aggregations and sorts on such paths read them: a
// few dozen keys instead of every key and token.
const (
	kindNumber byte = 1
	kindString byte = 2
	kindBool   byte = 3
	kindToken  byte = 4
)

// maxPayload bounds the text kept in a key.
const maxPayload = 1024

// monthLen is the length of the month in a key.
const monthLen = 2

func pathPrefix(pid int64) []byte { return binary.AppendUvarint(nil, uint64(pid)) }

// month returns the month of an instant in microseconds: months since
// January 1970, UTC (0 before).
func month(us int64) uint16 {
	t := time.UnixMicro(us).UTC()
	m := (t.Year()-1970)*12 + int(t.Month()) - 1
	return uint16(min(max(m, 0), math.MaxUint16))
}

// months returns the months of [from, to].
func months(from, to int64) []uint16 {
	var out []uint16
	for m, last := month(from), month(to); m <= last; m++ {
		out = append(out, m)
		if m == math.MaxUint16 {
			break
		}
	}
	return out
}

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

// valueKind returns the key kind of a leaf value.
func valueKind(v driver.Value) byte {
	switch v.Kind {
	case driver.Number:
		return kindNumber
	case driver.Bool:
		return kindBool
	}
	return kindString
}

// appendPayload appends the payload of leaf value v.
func appendPayload(b []byte, v driver.Value) []byte {
	switch v.Kind {
	case driver.Number:
		b = sortableBits(b, v.Num)
		return append(b, v.Text...)
	case driver.Bool:
		if v.Text == "true" {
			return append(b, 1)
		}
		return append(b, 0)
	}
	return appendText(b, v.Text)
}

// valueKey returns the key of leaf value v in month m at the path whose
// prefix p is.
func valueKey(p []byte, m uint16, v driver.Value) []byte {
	b := append(slices.Clip(p), valueKind(v))
	b = binary.BigEndian.AppendUint16(b, m)
	return appendPayload(b, v)
}

// facetKey returns the key of leaf value v at the path of prefix p,
// without month.
func facetKey(p []byte, v driver.Value) []byte {
	return appendPayload(append(slices.Clip(p), valueKind(v)), v)
}

func tokenKey(p []byte, m uint16, tok string) []byte {
	b := append(slices.Clip(p), kindToken)
	b = binary.BigEndian.AppendUint16(b, m)
	return appendText(b, tok)
}

// termValues returns the values a term clause of text t matches: the
// string t, and the number or boolean that t is the canonical text of (a
// term compares texts whatever the kinds).
func termValues(t string) []driver.Value {
	out := []driver.Value{{Kind: driver.String, Text: t}}
	switch t {
	case "true", "false":
		out = append(out, driver.Value{Kind: driver.Bool, Text: t})
	}
	if n := insights.ValueOf(json.Number(t)); n.Kind == driver.Number && n.Text == t {
		out = append(out, n)
	}
	return out
}

// sortKey is the part of a leaf key after the path prefix and without the
// month that orders it: kind and payload, a number's text left out (it does
// not order).
func sortKey(kind byte, payload []byte) []byte {
	if kind == kindNumber && len(payload) > 8 {
		payload = payload[:8]
	}
	return append([]byte{kind}, payload...)
}

// isFacet reports whether a leaf of path is a facet: not free text.
func isFacet(path string, v driver.Value) bool {
	return v.Kind != driver.String || insights.IsIDField(path)
}

// docKeys returns the sorted, distinct keys and facets of a document in
// month m, given its paths' prefixes, and the smallest and largest sort
// key of the path sortPath (nil when the document has no value there).
func docKeys(doc *driver.Document, prefixes map[string][]byte, m uint16, sortPath string) (keys, facets [][]byte, lo, hi []byte) {
	keys = make([][]byte, 0, len(doc.Terms)+len(doc.Tokens))
	for _, f := range doc.Terms {
		p := prefixes[f.Path]
		keys = append(keys, valueKey(p, m, f.Value))
		if isFacet(f.Path, f.Value) {
			facets = append(facets, facetKey(p, f.Value))
		}
		if f.Path == sortPath {
			sk := sortKey(valueKind(f.Value), appendPayload(nil, f.Value))
			if lo == nil || bytes.Compare(sk, lo) < 0 {
				lo = sk
			}
			if hi == nil || bytes.Compare(sk, hi) > 0 {
				hi = sk
			}
		}
	}
	for _, f := range doc.Tokens {
		keys = append(keys, tokenKey(prefixes[f.Path], m, f.Value.Text))
	}
	for _, ks := range []*[][]byte{&keys, &facets} {
		slices.SortFunc(*ks, bytes.Compare)
		*ks = slices.CompactFunc(*ks, bytes.Equal)
	}
	if facets == nil {
		facets = [][]byte{}
	}
	return keys, facets, lo, hi
}

// decodeFacet reads a facet's value back (after its path prefix), for
// aggregations' bucket keys.
func decodeFacet(k []byte) (driver.Value, bool) {
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
