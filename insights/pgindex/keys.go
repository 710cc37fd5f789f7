package pgindex

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"strings"
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
// A session's facets (column facets, jsonb) are the values of its leaves
// that are not free text — ID fields (insights.IsIDField), numbers and
// booleans — by path number: {"12": ["2ended"], "31": ["1c0fd4c0000000000120000"]}.
// Each value is a string whose bytewise order (COLLATE "C") is
// driver.Compare's order: a kind digit, then a number's 16 hex digits of
// sortable bits and its canonical text, a string (NUL and \x01 escaped
// without changing the order: jsonb has no NUL), or 0/1 for a boolean. A
// path's values are distinct and sorted, so a sort reads its first or last
// value with ->>0 or ->>-1, and an aggregation groups by the path's array,
// without expanding every session's keys.
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

// isFacet reports whether a leaf of path is a facet: not free text.
func isFacet(path string, v driver.Value) bool {
	return v.Kind != driver.String || insights.IsIDField(path)
}

var (
	escapeNUL   = strings.NewReplacer("\x01", "\x01\x02", "\x00", "\x01\x01")
	unescapeNUL = strings.NewReplacer("\x01\x02", "\x01", "\x01\x01", "\x00")
)

// facetText is the facet form of leaf value v.
func facetText(v driver.Value) string {
	switch v.Kind {
	case driver.Number:
		return "1" + hex.EncodeToString(sortableBits(nil, v.Num)) + v.Text
	case driver.Bool:
		if v.Text == "true" {
			return "31"
		}
		return "30"
	}
	return "2" + escapeNUL.Replace(v.Text)
}

// decodeFacetText reads a value back from its facet form, for
// aggregations' bucket keys.
func decodeFacetText(s string) (driver.Value, bool) {
	if s == "" {
		return driver.Value{}, false
	}
	switch s[0] {
	case '1':
		if len(s) < 17 {
			return driver.Value{}, false
		}
		raw, err := hex.DecodeString(s[1:17])
		if err != nil {
			return driver.Value{}, false
		}
		bits := binary.BigEndian.Uint64(raw)
		if bits>>63 == 1 {
			bits &^= 1 << 63
		} else {
			bits = ^bits
		}
		return driver.Value{Kind: driver.Number, Num: math.Float64frombits(bits), Text: s[17:]}, true
	case '2':
		return driver.Value{Kind: driver.String, Text: unescapeNUL.Replace(s[1:])}, true
	case '3':
		if s == "31" {
			return driver.Value{Kind: driver.Bool, Text: "true", Num: 1}, true
		}
		return driver.Value{Kind: driver.Bool, Text: "false"}, true
	}
	return driver.Value{}, false
}

// docKeys returns the sorted, distinct keys of a document in month m, given
// its paths' prefixes and numbers, its facets as jsonb, and the facets of
// each of dimPaths (nil when it has none there): the dimension columns.
func docKeys(doc *driver.Document, prefixes map[string][]byte, pids map[string]string, m uint16) (keys [][]byte, facets []byte, dims [][]string, err error) {
	keys = make([][]byte, 0, len(doc.Terms)+len(doc.Tokens))
	fs := map[string][]string{}
	for _, f := range doc.Terms {
		keys = append(keys, valueKey(prefixes[f.Path], m, f.Value))
		if isFacet(f.Path, f.Value) {
			fs[pids[f.Path]] = append(fs[pids[f.Path]], facetText(f.Value))
		}
	}
	for _, f := range doc.Tokens {
		keys = append(keys, tokenKey(prefixes[f.Path], m, f.Value.Text))
	}
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	for p, vs := range fs {
		slices.Sort(vs)
		fs[p] = slices.Compact(vs)
	}
	dims = make([][]string, len(dimPaths))
	for i, d := range dimPaths {
		if pid, ok := pids[d.path]; ok {
			dims[i] = fs[pid]
		}
	}
	facets, err = json.Marshal(fs)
	return keys, facets, dims, err
}
