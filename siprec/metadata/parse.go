package metadata

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned (wrapped in a *ParseError) by Parse and ParseRequestSnapshot.
var (
	// ErrSyntax means the document is not well-formed XML (or uses an
	// encoding other than UTF-8, US-ASCII or ISO-8859-1).
	ErrSyntax = errors.New("metadata: malformed XML")
	// ErrNotRecording means the root element is not the one expected
	// (<recording>, or <requestsnapshot> for ParseRequestSnapshot).
	ErrNotRecording = errors.New("metadata: unexpected root element")
	// ErrInvalidValue means an element holds a value of the wrong form: a
	// datamode other than complete/partial, or a time that is not an
	// xs:dateTime.
	ErrInvalidValue = errors.New("metadata: invalid value")
)

// ParseError is the error of Parse: where in the document the problem is and
// what the bad value was. errors.Is(err, ErrSyntax / ErrNotRecording /
// ErrInvalidValue) tells which kind it is.
type ParseError struct {
	Line, Column int // where the error was found (1-based)
	// Element is the name of the element being read, when known.
	Element string
	// Value is the offending value, when there is one.
	Value string
	// Detail says more, for syntax errors.
	Detail string
	Err    error // ErrSyntax, ErrNotRecording or ErrInvalidValue
}

// Error describes the error with its position and value.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Line > 0 {
		fmt.Fprintf(&b, " at line %d, column %d", e.Line, e.Column)
	}
	if e.Element != "" {
		fmt.Fprintf(&b, " in <%s>", e.Element)
	}
	if e.Value != "" {
		fmt.Fprintf(&b, ": %q", e.Value)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *ParseError) Unwrap() error { return e.Err }

const xmlURL = "http://www.w3.org/XML/1998/namespace"

// Parse reads an application/rs-metadata+xml document. See the package
// documentation for what it tolerates. Errors are *ParseError values.
func Parse(doc []byte) (*Recording, error) {
	p, err := newParser(doc)
	if err != nil {
		return nil, err
	}
	root, err := p.root()
	if err != nil {
		return nil, err
	}
	if p.known(root.Name) != "recording" {
		return nil, p.errAt(ErrNotRecording, root.Name.Local, clark(p.resolve(root.Name.Space, true), root.Name.Local), "want <recording> in "+Namespace)
	}
	r := &Recording{}
	if err := p.recording(r); err != nil {
		return nil, err
	}
	return r, nil
}

// binding is one namespace declaration in scope.
type binding struct{ prefix, uri string }

// openElem is an element whose end tag has not been read yet.
type openElem struct {
	raw  xml.Name // prefix and local name as written
	mark int      // len(bindings) before the element's own declarations
}

// parser walks raw tokens and resolves namespaces itself, so that it knows
// which declarations an extension element depends on and can cut the
// element's bytes out of the input verbatim.
type parser struct {
	src      []byte
	d        *xml.Decoder
	bindings []binding
	open     []openElem
	tokStart int64 // input offset of the last token's first byte
}

func newParser(doc []byte) (*parser, error) {
	src, err := toUTF8(doc)
	if err != nil {
		return nil, err
	}
	d := xml.NewDecoder(bytes.NewReader(src))
	// toUTF8 has already converted the document; the declaration's encoding
	// label only needs to be accepted.
	d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	return &parser{src: src, d: d, bindings: make([]binding, 0, 4), open: make([]openElem, 0, 8)}, nil
}

// utf8BOM is the UTF-8 byte-order mark (a constant: no package-level slice).
const utf8BOM = "\xEF\xBB\xBF"

// toUTF8 removes a byte-order mark and converts ISO-8859-1 documents.
func toUTF8(doc []byte) ([]byte, error) {
	if len(doc) >= len(utf8BOM) && string(doc[:len(utf8BOM)]) == utf8BOM {
		doc = doc[len(utf8BOM):]
	}
	enc := declaredEncoding(doc)
	switch strings.ToLower(enc) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return doc, nil
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1":
		return latin1ToUTF8(doc), nil
	}
	return nil, &ParseError{Line: 1, Column: 1, Err: ErrSyntax, Value: enc, Detail: "unsupported encoding (want UTF-8, US-ASCII or ISO-8859-1)"}
}

// declaredEncoding returns the encoding of the XML declaration, or "".
func declaredEncoding(doc []byte) string {
	rest := bytes.TrimLeft(doc, " \t\r\n")
	if !bytes.HasPrefix(rest, []byte("<?xml")) {
		return ""
	}
	end := bytes.Index(rest, []byte("?>"))
	if end < 0 {
		return ""
	}
	decl := string(rest[:end])
	i := strings.Index(decl, "encoding")
	if i < 0 {
		return ""
	}
	v := strings.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	v, ok := strings.CutPrefix(v, "=")
	if !ok {
		return ""
	}
	v = strings.TrimLeft(v, " \t\r\n")
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		return ""
	}
	q := v[0]
	v = v[1:]
	if j := strings.IndexByte(v, q); j >= 0 {
		return v[:j]
	}
	return ""
}

func latin1ToUTF8(b []byte) []byte {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/8)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

func (p *parser) errAt(kind error, elem, value, detail string) *ParseError {
	line, col := p.d.InputPos()
	return &ParseError{Line: line, Column: col, Element: elem, Value: value, Detail: detail, Err: kind}
}

func (p *parser) current() string {
	if len(p.open) == 0 {
		return ""
	}
	return p.open[len(p.open)-1].raw.Local
}

// next returns the next raw token, keeping the namespace scope and checking
// that end tags match. The bytes of a CharData token are only valid until the
// next call.
func (p *parser) next() (xml.Token, error) {
	p.tokStart = p.d.InputOffset()
	t, err := p.d.RawToken()
	if err != nil {
		if err == io.EOF {
			if len(p.open) > 0 {
				return nil, p.errAt(ErrSyntax, p.current(), "", "unexpected end of document")
			}
			return nil, io.EOF
		}
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, p.errAt(ErrSyntax, p.current(), "", se.Msg)
		}
		return nil, p.errAt(ErrSyntax, p.current(), "", err.Error())
	}
	switch t := t.(type) {
	case xml.StartElement:
		mark := len(p.bindings)
		for _, a := range t.Attr {
			switch {
			case a.Name.Space == "xmlns":
				p.bindings = append(p.bindings, binding{a.Name.Local, a.Value})
			case a.Name.Space == "" && a.Name.Local == "xmlns":
				p.bindings = append(p.bindings, binding{"", a.Value})
			}
		}
		p.open = append(p.open, openElem{raw: t.Name, mark: mark})
	case xml.EndElement:
		if len(p.open) == 0 {
			return nil, p.errAt(ErrSyntax, t.Name.Local, "", "end tag without start tag")
		}
		top := p.open[len(p.open)-1]
		if top.raw != t.Name {
			return nil, p.errAt(ErrSyntax, top.raw.Local, qualified(t.Name.Space, t.Name.Local), "element closed by the wrong end tag")
		}
		p.bindings = p.bindings[:top.mark]
		p.open = p.open[:len(p.open)-1]
	}
	return t, nil
}

// clark writes a resolved name as {namespace}local.
func clark(space, local string) string {
	if space == "" {
		return local
	}
	return "{" + space + "}" + local
}

func qualified(space, local string) string {
	if space == "" {
		return local
	}
	return space + ":" + local
}

// resolve maps a prefix to its namespace URI in the current scope. An
// undeclared prefix resolves to itself.
func (p *parser) resolve(prefix string, element bool) string {
	if prefix == "xml" {
		return xmlURL
	}
	if prefix == "" && !element {
		return ""
	}
	for i := len(p.bindings) - 1; i >= 0; i-- {
		if p.bindings[i].prefix == prefix {
			return p.bindings[i].uri
		}
	}
	return prefix
}

func isRecordingNS(space string) bool {
	return space == Namespace || space == "" || space == LegacyNamespace
}

// known returns the lower-cased local name of an element in the recording
// namespace, or "" for any other element.
func (p *parser) known(n xml.Name) string {
	if !isRecordingNS(p.resolve(n.Space, true)) {
		return ""
	}
	return strings.ToLower(n.Local)
}

// root returns the document element.
func (p *parser) root() (xml.StartElement, error) {
	for {
		t, err := p.next()
		if err == io.EOF {
			return xml.StartElement{}, p.errAt(ErrSyntax, "", "", "no root element")
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, p.errAt(ErrSyntax, "", string(bytes.TrimSpace(t)), "text before the root element")
			}
		}
	}
}

// child returns the next child element of the innermost open element, or
// ok == false once that element's end tag has been read. The caller must
// consume each child it gets (text, skip, extension or a child loop).
func (p *parser) child() (el xml.StartElement, ok bool, err error) {
	depth := len(p.open)
	for {
		t, err := p.next()
		if err != nil {
			return xml.StartElement{}, false, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return t, true, nil
		case xml.EndElement:
			if len(p.open) < depth {
				return xml.StartElement{}, false, nil
			}
		}
	}
}

// skip consumes the rest of the innermost open element.
func (p *parser) skip() error {
	depth := len(p.open)
	for len(p.open) >= depth {
		if _, err := p.next(); err != nil {
			return err
		}
	}
	return nil
}

// text returns the trimmed character data directly inside the innermost open
// element and consumes the element; nested elements are skipped.
func (p *parser) text() (string, error) {
	depth := len(p.open)
	var s string
	var buf []byte
	pieces := 0
	for {
		t, err := p.next()
		if err != nil {
			return "", err
		}
		switch t := t.(type) {
		case xml.CharData:
			if len(p.open) == depth {
				switch pieces {
				case 0:
					s = string(t)
				case 1:
					buf = append([]byte(s), t...)
				default:
					buf = append(buf, t...)
				}
				pieces++
			}
		case xml.EndElement:
			if len(p.open) < depth {
				if pieces > 1 {
					s = string(buf)
				}
				return strings.TrimSpace(s), nil
			}
		}
	}
}

// timeText reads an xs:dateTime element.
func (p *parser) timeText() (time.Time, error) {
	elem := p.current()
	s, err := p.text()
	if err != nil {
		return time.Time{}, err
	}
	if s == "" {
		return time.Time{}, nil
	}
	t, ok := parseTime(s)
	if !ok {
		return time.Time{}, p.errAt(ErrInvalidValue, elem, s, "want an xs:dateTime such as 2024-01-01T10:00:00Z")
	}
	return t, nil
}

// parseTime reads xs:dateTime values in the forms clients send: RFC 3339
// with or without fractional seconds, an offset without a colon, no offset
// (taken as UTC), or a space instead of the T.
func parseTime(s string) (time.Time, bool) {
	s = strings.ToUpper(s)
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	for _, layout := range [...]string{time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return normTime(t), true
		}
	}
	return time.Time{}, false
}

// normTime gives equal instants with equal offsets one representation: UTC
// for offset zero, an unnamed fixed zone otherwise.
func normTime(t time.Time) time.Time {
	_, off := t.Zone()
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", off))
}

// attr returns the trimmed value of the first of names present on el (names in
// order of preference), matching unprefixed attributes case-insensitively.
func (p *parser) attr(el xml.StartElement, names ...string) string {
	for _, n := range names {
		for _, a := range el.Attr {
			if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
				continue
			}
			if a.Name.Space != "" && !isRecordingNS(p.resolve(a.Name.Space, false)) {
				continue
			}
			if strings.EqualFold(a.Name.Local, n) {
				return strings.TrimSpace(a.Value)
			}
		}
	}
	return ""
}

// lang returns xml:lang (or a bare lang attribute).
func (p *parser) lang(el xml.StartElement) string {
	for _, a := range el.Attr {
		if a.Name.Space == "xml" && a.Name.Local == "lang" {
			return strings.TrimSpace(a.Value)
		}
	}
	for _, a := range el.Attr {
		if a.Name.Space == "" && strings.EqualFold(a.Name.Local, "lang") {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// extension consumes the element el (just returned by child) and returns it
// verbatim, with the namespace declarations it uses from its ancestors added
// to its start tag so that it stands on its own.
func (p *parser) extension(el xml.StartElement) (Extension, error) {
	begin := p.tokStart
	depth := len(p.open)
	base := p.open[depth-1].mark
	space := p.resolve(el.Name.Space, true)
	var need needs
	p.needs(&need, el, base)
	for len(p.open) >= depth {
		t, err := p.next()
		if err != nil {
			return Extension{}, err
		}
		if se, ok := t.(xml.StartElement); ok {
			p.needs(&need, se, base)
		}
	}
	raw := p.src[begin:p.d.InputOffset()]
	return Extension{Space: space, Local: el.Name.Local, XML: inject(raw, el.Name, &need)}, nil
}

// needs records the namespace declarations from outside the extension that
// el depends on.
type needs struct {
	defaultSet bool
	defaultURI string
	prefixed   []binding
}

func (p *parser) needs(n *needs, el xml.StartElement, base int) {
	p.need(n, el.Name.Space, true, base)
	for _, a := range el.Attr {
		if a.Name.Space != "" && a.Name.Space != "xmlns" {
			p.need(n, a.Name.Space, false, base)
		}
	}
}

func (p *parser) need(n *needs, prefix string, element bool, base int) {
	if prefix == "xml" || (prefix == "" && !element) {
		return
	}
	for i := len(p.bindings) - 1; i >= 0; i-- {
		if p.bindings[i].prefix != prefix {
			continue
		}
		if i >= base {
			return // declared inside the extension
		}
		p.record(n, prefix, p.bindings[i].uri)
		return
	}
	if prefix == "" {
		p.record(n, "", "") // no default namespace in scope
	}
}

func (p *parser) record(n *needs, prefix, uri string) {
	if prefix == "" {
		n.defaultSet, n.defaultURI = true, uri
		return
	}
	for _, b := range n.prefixed {
		if b.prefix == prefix {
			return
		}
	}
	n.prefixed = append(n.prefixed, binding{prefix, uri})
}

// inject adds the needed declarations after the element name of raw's start
// tag. Extensions are written where the default namespace is Namespace, so
// a default declaration is added only when the element relied on another one.
func inject(raw []byte, name xml.Name, n *needs) string {
	addDefault := n.defaultSet && n.defaultURI != Namespace
	if !addDefault && len(n.prefixed) == 0 {
		return string(raw)
	}
	qname := name.Local
	if name.Space != "" {
		qname = name.Space + ":" + name.Local
	}
	at := 1 + len(qname)
	if len(raw) < at || string(raw[1:at]) != qname {
		return string(raw)
	}
	var b strings.Builder
	b.Grow(len(raw) + 64)
	b.Write(raw[:at])
	if addDefault {
		b.WriteString(` xmlns="`)
		escapeAttr(&b, n.defaultURI)
		b.WriteByte('"')
	}
	sortBindings(n.prefixed)
	for _, d := range n.prefixed {
		b.WriteString(" xmlns:")
		b.WriteString(d.prefix)
		b.WriteString(`="`)
		escapeAttr(&b, d.uri)
		b.WriteByte('"')
	}
	b.Write(raw[at:])
	return b.String()
}

func sortBindings(bs []binding) {
	for i := 1; i < len(bs); i++ {
		for j := i; j > 0 && bs[j].prefix < bs[j-1].prefix; j-- {
			bs[j], bs[j-1] = bs[j-1], bs[j]
		}
	}
}

// legacy holds associations given in the draft-era places (times inside
// <session> or <participant>); they become RFC 7865 associations.
type legacy struct {
	sra []SessionRecordingAssoc
	psa []ParticipantSessionAssoc
}

func (p *parser) recording(r *Recording) error {
	var lg legacy
	seenMode := false
	for {
		el, ok, err := p.child()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch p.known(el.Name) {
		case "datamode":
			s, err := p.text()
			if err != nil {
				return err
			}
			if seenMode {
				continue
			}
			seenMode = true
			switch {
			case s == "": // <datamode/>: as if absent
			case strings.EqualFold(s, string(Complete)):
				r.DataMode = Complete
			case strings.EqualFold(s, string(Partial)):
				r.DataMode = Partial
			default:
				return p.errAt(ErrInvalidValue, "datamode", s, "want complete or partial")
			}
		case "group":
			g, err := p.group(el)
			if err != nil {
				return err
			}
			r.Groups = append(r.Groups, g)
		case "session":
			s, err := p.session(el, &lg)
			if err != nil {
				return err
			}
			r.Sessions = append(r.Sessions, s)
		case "participant":
			pa, err := p.participant(el, &lg)
			if err != nil {
				return err
			}
			r.Participants = append(r.Participants, pa)
		case "stream":
			s, err := p.stream(el)
			if err != nil {
				return err
			}
			r.Streams = append(r.Streams, s)
		case "sessionrecordingassoc":
			a, err := p.sessionRecordingAssoc(el)
			if err != nil {
				return err
			}
			r.SessionRecordingAssocs = append(r.SessionRecordingAssocs, a)
		case "participantsessionassoc":
			a, err := p.participantSessionAssoc(el)
			if err != nil {
				return err
			}
			r.ParticipantSessionAssocs = append(r.ParticipantSessionAssocs, a)
		case "participantstreamassoc":
			a, err := p.participantStreamAssoc(el)
			if err != nil {
				return err
			}
			r.ParticipantStreamAssocs = append(r.ParticipantStreamAssocs, a)
		default:
			x, err := p.extension(el)
			if err != nil {
				return err
			}
			r.Extensions = append(r.Extensions, x)
		}
	}
	if r.DataMode == "" {
		r.DataMode = Complete
	}
	lg.apply(r)
	return nil
}

func (lg *legacy) apply(r *Recording) {
	for _, a := range lg.sra {
		i := indexFunc(r.SessionRecordingAssocs, func(x SessionRecordingAssoc) bool { return x.SessionID == a.SessionID })
		if i < 0 {
			r.SessionRecordingAssocs = append(r.SessionRecordingAssocs, a)
			continue
		}
		fillTimes(&r.SessionRecordingAssocs[i].AssociateTime, &r.SessionRecordingAssocs[i].DisassociateTime, a.AssociateTime, a.DisassociateTime)
	}
	for _, a := range lg.psa {
		i := indexFunc(r.ParticipantSessionAssocs, func(x ParticipantSessionAssoc) bool {
			return x.ParticipantID == a.ParticipantID && x.SessionID == a.SessionID
		})
		if i < 0 {
			r.ParticipantSessionAssocs = append(r.ParticipantSessionAssocs, a)
			continue
		}
		fillTimes(&r.ParticipantSessionAssocs[i].AssociateTime, &r.ParticipantSessionAssocs[i].DisassociateTime, a.AssociateTime, a.DisassociateTime)
	}
}

func fillTimes(a, d *time.Time, na, nd time.Time) {
	if a.IsZero() {
		*a = na
	}
	if d.IsZero() {
		*d = nd
	}
}

func indexFunc[T any](s []T, f func(T) bool) int {
	for i := range s {
		if f(s[i]) {
			return i
		}
	}
	return -1
}

// assocTimes reads associate-time / disassociate-time children; it reports
// whether el was one of them.
func (p *parser) assocTimes(name string, a, d *time.Time) (bool, error) {
	var dst *time.Time
	switch name {
	case "associate-time":
		dst = a
	case "disassociate-time":
		dst = d
	default:
		return false, nil
	}
	t, err := p.timeText()
	if err != nil {
		return true, err
	}
	if dst.IsZero() {
		*dst = t
	}
	return true, nil
}

func (p *parser) group(el xml.StartElement) (Group, error) {
	g := Group{ID: p.attr(el, "group_id", "id")}
	for {
		c, ok, err := p.child()
		if err != nil || !ok {
			return g, err
		}
		if done, err := p.assocTimes(p.known(c.Name), &g.AssociateTime, &g.DisassociateTime); done {
			if err != nil {
				return g, err
			}
			continue
		}
		x, err := p.extension(c)
		if err != nil {
			return g, err
		}
		g.Extensions = append(g.Extensions, x)
	}
}

func (p *parser) session(el xml.StartElement, lg *legacy) (Session, error) {
	s := Session{ID: p.attr(el, "session_id", "id")}
	var la, ld time.Time
	defer func() {
		if !la.IsZero() || !ld.IsZero() {
			lg.sra = append(lg.sra, SessionRecordingAssoc{SessionID: s.ID, AssociateTime: la, DisassociateTime: ld})
		}
	}()
	for {
		c, ok, err := p.child()
		if err != nil || !ok {
			return s, err
		}
		name := p.known(c.Name)
		switch name {
		case "sipsessionid":
			v, err := p.text()
			if err != nil {
				return s, err
			}
			if v != "" {
				s.SIPSessionIDs = append(s.SIPSessionIDs, v)
			}
		case "reason":
			rs := Reason{Protocol: p.attr(c, "protocol"), Cause: p.attr(c, "cause")}
			v, err := p.text()
			if err != nil {
				return s, err
			}
			rs.Text = v
			s.Reasons = append(s.Reasons, rs)
		case "group-ref":
			v, err := p.text()
			if err != nil {
				return s, err
			}
			if s.GroupRef == "" {
				s.GroupRef = v
			}
		case "start-time", "stop-time":
			t, err := p.timeText()
			if err != nil {
				return s, err
			}
			if name == "start-time" && s.StartTime.IsZero() {
				s.StartTime = t
			} else if name == "stop-time" && s.StopTime.IsZero() {
				s.StopTime = t
			}
		case "associate-time", "disassociate-time":
			if _, err := p.assocTimes(name, &la, &ld); err != nil {
				return s, err
			}
		default:
			x, err := p.extension(c)
			if err != nil {
				return s, err
			}
			s.Extensions = append(s.Extensions, x)
		}
	}
}

func (p *parser) participant(el xml.StartElement, lg *legacy) (Participant, error) {
	pa := Participant{ID: p.attr(el, "participant_id", "id")}
	sessionID := p.attr(el, "session_id", "session")
	var la, ld time.Time
	defer func() {
		if !la.IsZero() || !ld.IsZero() {
			lg.psa = append(lg.psa, ParticipantSessionAssoc{ParticipantID: pa.ID, SessionID: sessionID, AssociateTime: la, DisassociateTime: ld})
		}
	}()
	for {
		c, ok, err := p.child()
		if err != nil || !ok {
			return pa, err
		}
		name := p.known(c.Name)
		switch name {
		case "nameid":
			n, err := p.nameID(c)
			if err != nil {
				return pa, err
			}
			pa.NameIDs = append(pa.NameIDs, n)
		case "send", "recv":
			v, err := p.text()
			if err != nil {
				return pa, err
			}
			if v == "" {
				continue
			}
			if name == "send" {
				pa.Send = append(pa.Send, v)
			} else {
				pa.Recv = append(pa.Recv, v)
			}
		case "aor": // draft-era <aor> directly in <participant>
			v, err := p.text()
			if err != nil {
				return pa, err
			}
			pa.NameIDs = append(pa.NameIDs, NameID{AOR: v})
		case "name": // draft-era <name> directly in <participant>
			n := Name{Lang: p.lang(c)}
			v, err := p.text()
			if err != nil {
				return pa, err
			}
			n.Text = v
			if len(pa.NameIDs) == 0 {
				pa.NameIDs = append(pa.NameIDs, NameID{})
			}
			last := &pa.NameIDs[len(pa.NameIDs)-1]
			last.Names = append(last.Names, n)
		case "associate-time", "disassociate-time":
			if _, err := p.assocTimes(name, &la, &ld); err != nil {
				return pa, err
			}
		default:
			x, err := p.extension(c)
			if err != nil {
				return pa, err
			}
			pa.Extensions = append(pa.Extensions, x)
		}
	}
}

func (p *parser) nameID(el xml.StartElement) (NameID, error) {
	n := NameID{AOR: p.attr(el, "aor")}
	for {
		c, ok, err := p.child()
		if err != nil || !ok {
			return n, err
		}
		if p.known(c.Name) != "name" {
			if err := p.skip(); err != nil {
				return n, err
			}
			continue
		}
		nm := Name{Lang: p.lang(c)}
		v, err := p.text()
		if err != nil {
			return n, err
		}
		nm.Text = v
		n.Names = append(n.Names, nm)
	}
}

func (p *parser) stream(el xml.StartElement) (Stream, error) {
	s := Stream{ID: p.attr(el, "stream_id", "id"), SessionID: p.attr(el, "session_id", "session")}
	seenLabel := false
	for {
		c, ok, err := p.child()
		if err != nil || !ok {
			return s, err
		}
		if p.known(c.Name) == "label" {
			v, err := p.text()
			if err != nil {
				return s, err
			}
			if !seenLabel {
				s.Label, seenLabel = v, true
			}
			continue
		}
		x, err := p.extension(c)
		if err != nil {
			return s, err
		}
		s.Extensions = append(s.Extensions, x)
	}
}

func (p *parser) sessionRecordingAssoc(el xml.StartElement) (SessionRecordingAssoc, error) {
	a := SessionRecordingAssoc{SessionID: p.attr(el, "session_id", "session")}
	for {
		c, ok, err := p.child()
		if err != nil || !ok {
			return a, err
		}
		if done, err := p.assocTimes(p.known(c.Name), &a.AssociateTime, &a.DisassociateTime); done {
			if err != nil {
				return a, err
			}
			continue
		}
		x, err := p.extension(c)
		if err != nil {
			return a, err
		}
		a.Extensions = append(a.Extensions, x)
	}
}

func (p *parser) participantSessionAssoc(el xml.StartElement) (ParticipantSessionAssoc, error) {
	a := ParticipantSessionAssoc{
		ParticipantID: p.attr(el, "participant_id", "participant"),
		SessionID:     p.attr(el, "session_id", "session"),
	}
	for {
		c, ok, err := p.child()
		if err != nil || !ok {
			return a, err
		}
		name := p.known(c.Name)
		if done, err := p.assocTimes(name, &a.AssociateTime, &a.DisassociateTime); done {
			if err != nil {
				return a, err
			}
			continue
		}
		if name == "param" {
			a.Params = append(a.Params, Param{Name: p.attr(c, "pname"), Value: p.attr(c, "pval")})
			if err := p.skip(); err != nil {
				return a, err
			}
			continue
		}
		x, err := p.extension(c)
		if err != nil {
			return a, err
		}
		a.Extensions = append(a.Extensions, x)
	}
}

func (p *parser) participantStreamAssoc(el xml.StartElement) (ParticipantStreamAssoc, error) {
	a := ParticipantStreamAssoc{ParticipantID: p.attr(el, "participant_id", "participant")}
	for {
		c, ok, err := p.child()
		if err != nil || !ok {
			return a, err
		}
		name := p.known(c.Name)
		if done, err := p.assocTimes(name, &a.AssociateTime, &a.DisassociateTime); done {
			if err != nil {
				return a, err
			}
			continue
		}
		if name == "send" || name == "recv" {
			v, err := p.text()
			if err != nil {
				return a, err
			}
			switch {
			case v == "":
			case name == "send":
				a.Send = append(a.Send, v)
			default:
				a.Recv = append(a.Recv, v)
			}
			continue
		}
		x, err := p.extension(c)
		if err != nil {
			return a, err
		}
		a.Extensions = append(a.Extensions, x)
	}
}
