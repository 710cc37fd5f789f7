package insights

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/voicegw/voicegw/insights/driver"
)

// Analyze splits text into the tokens a match clause compares, as
// Elasticsearch's standard analyzer does: Unicode word segmentation (UAX
// #29), keeping the segments that hold a letter or a digit, lowercased.
// "Shut up, Benjamin!" gives [shut up benjamin]; "don't" stays one token;
// "2020-10-08" gives [2020 10 08].
func Analyze(text string) []string {
	var out []string
	return appendTokens(out, text)
}

func appendTokens(out []string, text string) []string {
	if isSimpleASCII(text) {
		return appendASCIITokens(out, text)
	}
	state := -1
	for len(text) > 0 {
		var word string
		word, text, state = uniseg.FirstWordInString(text, state)
		if isWord(word) {
			out = append(out, strings.ToLower(word))
		}
	}
	return out
}

func isWord(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			return true
		}
	}
	return false
}

// isSimpleASCII reports whether text is ASCII without the characters whose
// UAX #29 rules depend on context (' . : , ; _ and control characters), so
// that words are exactly the runs of letters and digits.
func isSimpleASCII(text string) bool {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= utf8.RuneSelf || c < ' ' || c == '\'' || c == '.' || c == ':' || c == ',' || c == ';' || c == '_' || c == 0x7f {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func appendASCIITokens(out []string, text string) []string {
	for i := 0; i < len(text); {
		if !isAlnum(text[i]) {
			i++
			continue
		}
		j := i
		lower := true
		for j < len(text) && isAlnum(text[j]) {
			if text[j] >= 'A' && text[j] <= 'Z' {
				lower = false
			}
			j++
		}
		w := text[i:j]
		if !lower {
			w = strings.ToLower(w)
		}
		out = append(out, w)
		i = j
	}
	return out
}

// flattened is a session document ready for a driver.
type flattened struct {
	terms  []driver.Field
	tokens []driver.Field
}

// flatten walks the JSON of a document and returns every leaf (Terms) and
// the tokens of every leaf that is not an ID field (Tokens, one per path and
// token). Arrays are transparent: their elements share the array's path.
func flatten(doc []byte) (flattened, error) {
	w := walker{doc: doc, paths: make(map[string]string, 48)}
	w.skipSpace()
	if err := w.value(nil, true); err != nil {
		return flattened{}, err
	}
	slices.SortFunc(w.out.tokens, func(a, b driver.Field) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Value.Text, b.Value.Text)
	})
	w.out.tokens = slices.CompactFunc(w.out.tokens, func(a, b driver.Field) bool {
		return a.Path == b.Path && a.Value.Text == b.Value.Text
	})
	return w.out, nil
}

// walker is a minimal reader for JSON that encoding/json produced (so it
// is valid); it reports errors rather than trusting that.
type walker struct {
	doc   []byte
	pos   int
	paths map[string]string
	out   flattened
	toks  []string
}

func (w *walker) errorf(format string, a ...any) error {
	return fmt.Errorf("insights: flatten at offset %d: %s", w.pos, fmt.Sprintf(format, a...))
}

func (w *walker) skipSpace() {
	for w.pos < len(w.doc) {
		switch w.doc[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

func (w *walker) path(p []byte) string {
	if s, ok := w.paths[string(p)]; ok {
		return s
	}
	s := string(p)
	w.paths[s] = s
	return s
}

// value reads one value at path; root is true for the document itself
// (its members' paths are their bare keys, and a scalar there has no path).
func (w *walker) value(path []byte, root bool) error {
	if w.pos >= len(w.doc) {
		return w.errorf("unexpected end")
	}
	switch c := w.doc[w.pos]; {
	case c == '{':
		w.pos++
		w.skipSpace()
		if w.pos < len(w.doc) && w.doc[w.pos] == '}' {
			w.pos++
			return nil
		}
		for {
			w.skipSpace()
			key, err := w.str()
			if err != nil {
				return err
			}
			w.skipSpace()
			if w.pos >= len(w.doc) || w.doc[w.pos] != ':' {
				return w.errorf("want ':'")
			}
			w.pos++
			w.skipSpace()
			sub := path
			if !root {
				sub = append(sub, '.')
			}
			sub = append(sub, key...)
			if err := w.value(sub[:len(sub):len(sub)], false); err != nil {
				return err
			}
			w.skipSpace()
			if w.pos >= len(w.doc) {
				return w.errorf("unexpected end in object")
			}
			if w.doc[w.pos] == '}' {
				w.pos++
				return nil
			}
			if w.doc[w.pos] != ',' {
				return w.errorf("want ',' or '}'")
			}
			w.pos++
		}
	case c == '[':
		w.pos++
		w.skipSpace()
		if w.pos < len(w.doc) && w.doc[w.pos] == ']' {
			w.pos++
			return nil
		}
		for {
			w.skipSpace()
			if err := w.value(path, root); err != nil {
				return err
			}
			w.skipSpace()
			if w.pos >= len(w.doc) {
				return w.errorf("unexpected end in array")
			}
			if w.doc[w.pos] == ']' {
				w.pos++
				return nil
			}
			if w.doc[w.pos] != ',' {
				return w.errorf("want ',' or ']'")
			}
			w.pos++
		}
	case c == '"':
		s, err := w.str()
		if err != nil {
			return err
		}
		if !root {
			w.leaf(path, StringValue(s))
		}
		return nil
	case c == 'n':
		return w.literal("null")
	case c == 't':
		if err := w.literal("true"); err != nil {
			return err
		}
		if !root {
			w.leaf(path, BoolValue(true))
		}
		return nil
	case c == 'f':
		if err := w.literal("false"); err != nil {
			return err
		}
		if !root {
			w.leaf(path, BoolValue(false))
		}
		return nil
	default:
		start := w.pos
		for w.pos < len(w.doc) && strings.IndexByte("+-0123456789.eE", w.doc[w.pos]) >= 0 {
			w.pos++
		}
		v, err := numberValue(string(w.doc[start:w.pos]))
		if err != nil || start == w.pos {
			return w.errorf("bad number %q", w.doc[start:w.pos])
		}
		if !root {
			w.leaf(path, v)
		}
		return nil
	}
}

func (w *walker) literal(lit string) error {
	if !strings.HasPrefix(string(w.doc[w.pos:min(len(w.doc), w.pos+len(lit))]), lit) {
		return w.errorf("want %s", lit)
	}
	w.pos += len(lit)
	return nil
}

// str reads a JSON string at pos.
func (w *walker) str() (string, error) {
	if w.pos >= len(w.doc) || w.doc[w.pos] != '"' {
		return "", w.errorf("want string")
	}
	start := w.pos
	escaped := false
	for i := w.pos + 1; i < len(w.doc); i++ {
		switch w.doc[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			w.pos = i + 1
			if !escaped {
				return string(w.doc[start+1 : i]), nil
			}
			var s string
			if err := json.Unmarshal(w.doc[start:i+1], &s); err != nil {
				return "", w.errorf("bad string: %v", err)
			}
			return s, nil
		}
	}
	return "", w.errorf("unterminated string")
}

func (w *walker) leaf(pathb []byte, v Value) {
	path := w.path(pathb)
	w.out.terms = append(w.out.terms, driver.Field{Path: path, Value: v})
	if IsIDField(path) {
		return
	}
	if v.Kind != driver.String {
		w.out.tokens = append(w.out.tokens, driver.Field{Path: path, Value: StringValue(v.Text)})
		return
	}
	w.toks = appendTokens(w.toks[:0], v.Text)
	for _, t := range w.toks {
		w.out.tokens = append(w.out.tokens, driver.Field{Path: path, Value: StringValue(t)})
	}
}
