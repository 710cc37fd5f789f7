package metadata

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidModel is returned by Marshal for a model it cannot write: an
// unknown DataMode or an extension whose XML is not one well-formed element.
var ErrInvalidModel = errors.New("metadata: cannot write model")

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// Marshal writes r canonically: UTF-8, the default namespace [Namespace], the
// element order of the RFC 7865 schema, extensions after the known children
// of their parent, two-space indentation and LF line ends.
func (r *Recording) Marshal() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	w := writer{}
	w.b.Grow(r.sizeHint())
	w.b.WriteString(xmlHeader)
	w.b.WriteString(`<recording xmlns="` + Namespace + `">` + "\n")
	mode := r.DataMode
	if mode == "" {
		mode = Complete
	}
	w.textElem(1, "datamode", string(mode))
	for _, g := range r.Groups {
		w.open(1, "group", "group_id", g.ID)
		w.timeElem(2, "associate-time", g.AssociateTime)
		w.timeElem(2, "disassociate-time", g.DisassociateTime)
		w.close(1, "group", g.Extensions)
	}
	for _, s := range r.Sessions {
		w.open(1, "session", "session_id", s.ID)
		for _, id := range s.SIPSessionIDs {
			w.textElem(2, "sipSessionID", id)
		}
		for _, rs := range s.Reasons {
			w.indent(2)
			w.b.WriteString("<reason")
			w.attr("protocol", rs.Protocol)
			w.attr("cause", rs.Cause)
			w.b.WriteByte('>')
			escapeText(&w.b, rs.Text)
			w.b.WriteString("</reason>\n")
		}
		if s.GroupRef != "" {
			w.textElem(2, "group-ref", s.GroupRef)
		}
		w.timeElem(2, "start-time", s.StartTime)
		w.timeElem(2, "stop-time", s.StopTime)
		w.close(1, "session", s.Extensions)
	}
	for _, p := range r.Participants {
		w.open(1, "participant", "participant_id", p.ID)
		for _, n := range p.NameIDs {
			w.nameID(n)
		}
		for _, id := range p.Send {
			w.textElem(2, "send", id)
		}
		for _, id := range p.Recv {
			w.textElem(2, "recv", id)
		}
		w.close(1, "participant", p.Extensions)
	}
	for _, s := range r.Streams {
		w.open(1, "stream", "stream_id", s.ID, "session_id", s.SessionID)
		w.textElem(2, "label", s.Label)
		w.close(1, "stream", s.Extensions)
	}
	for _, a := range r.SessionRecordingAssocs {
		w.open(1, "sessionrecordingassoc", "session_id", a.SessionID)
		w.timeElem(2, "associate-time", a.AssociateTime)
		w.timeElem(2, "disassociate-time", a.DisassociateTime)
		w.close(1, "sessionrecordingassoc", a.Extensions)
	}
	for _, a := range r.ParticipantSessionAssocs {
		w.open(1, "participantsessionassoc", "participant_id", a.ParticipantID, "session_id", a.SessionID)
		w.timeElem(2, "associate-time", a.AssociateTime)
		w.timeElem(2, "disassociate-time", a.DisassociateTime)
		for _, pm := range a.Params {
			w.indent(2)
			w.b.WriteString("<param")
			w.attr("pname", pm.Name)
			w.attr("pval", pm.Value)
			w.b.WriteString("/>\n")
		}
		w.close(1, "participantsessionassoc", a.Extensions)
	}
	for _, a := range r.ParticipantStreamAssocs {
		w.open(1, "participantstreamassoc", "participant_id", a.ParticipantID)
		for _, id := range a.Send {
			w.textElem(2, "send", id)
		}
		for _, id := range a.Recv {
			w.textElem(2, "recv", id)
		}
		w.timeElem(2, "associate-time", a.AssociateTime)
		w.timeElem(2, "disassociate-time", a.DisassociateTime)
		w.close(1, "participantstreamassoc", a.Extensions)
	}
	w.extensions(1, r.Extensions)
	w.b.WriteString("</recording>\n")
	return []byte(w.b.String()), nil
}

// String returns the canonical XML, or the Marshal error's text.
func (r *Recording) String() string {
	b, err := r.Marshal()
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (r *Recording) sizeHint() int {
	n := 160 + 48*len(r.Groups) + 160*len(r.Sessions) + 200*len(r.Participants) + 120*len(r.Streams) +
		140*(len(r.SessionRecordingAssocs)+len(r.ParticipantSessionAssocs)+len(r.ParticipantStreamAssocs))
	for _, x := range r.Extensions {
		n += len(x.XML) + 4
	}
	return n
}

// check validates what Marshal cannot write correctly.
func (r *Recording) check() error {
	switch r.DataMode {
	case "", Complete, Partial:
	default:
		return fmt.Errorf("%w: datamode %q (want complete or partial)", ErrInvalidModel, r.DataMode)
	}
	var err error
	visit := func(where string, xs []Extension) {
		for _, x := range xs {
			if err != nil {
				return
			}
			if e := x.check(); e != nil {
				err = fmt.Errorf("%w: extension in %s: %w", ErrInvalidModel, where, e)
			}
		}
	}
	visit("recording", r.Extensions)
	for _, g := range r.Groups {
		visit("group "+g.ID, g.Extensions)
	}
	for _, s := range r.Sessions {
		visit("session "+s.ID, s.Extensions)
	}
	for _, p := range r.Participants {
		visit("participant "+p.ID, p.Extensions)
	}
	for _, s := range r.Streams {
		visit("stream "+s.ID, s.Extensions)
	}
	for _, a := range r.SessionRecordingAssocs {
		visit("sessionrecordingassoc "+a.SessionID, a.Extensions)
	}
	for _, a := range r.ParticipantSessionAssocs {
		visit("participantsessionassoc "+a.ParticipantID, a.Extensions)
	}
	for _, a := range r.ParticipantStreamAssocs {
		visit("participantstreamassoc "+a.ParticipantID, a.Extensions)
	}
	return err
}

type writer struct {
	b strings.Builder
	// pending is set between open and the first child written.
	pending bool
}

const indentUnit = "  "

func (w *writer) indent(level int) {
	w.flush()
	for range level {
		w.b.WriteString(indentUnit)
	}
}

// open starts an element with attributes (name/value pairs; empty values are
// left out). The start tag stays open so that an element without children
// is written self-closing.
func (w *writer) open(level int, name string, attrs ...string) {
	w.indent(level)
	w.b.WriteByte('<')
	w.b.WriteString(name)
	for i := 0; i+1 < len(attrs); i += 2 {
		w.attr(attrs[i], attrs[i+1])
	}
	w.pending = true
}

func (w *writer) flush() {
	if w.pending {
		w.b.WriteString(">\n")
		w.pending = false
	}
}

func (w *writer) close(level int, name string, ext []Extension) {
	w.extensions(level+1, ext)
	if w.pending {
		w.b.WriteString("/>\n")
		w.pending = false
		return
	}
	w.indent(level)
	w.b.WriteString("</")
	w.b.WriteString(name)
	w.b.WriteString(">\n")
}

func (w *writer) attr(name, value string) {
	if value == "" {
		return
	}
	w.b.WriteByte(' ')
	w.b.WriteString(name)
	w.b.WriteString(`="`)
	escapeAttr(&w.b, value)
	w.b.WriteByte('"')
}

func (w *writer) textElem(level int, name, value string) {
	w.indent(level)
	w.b.WriteByte('<')
	w.b.WriteString(name)
	w.b.WriteByte('>')
	escapeText(&w.b, value)
	w.b.WriteString("</")
	w.b.WriteString(name)
	w.b.WriteString(">\n")
}

func (w *writer) timeElem(level int, name string, t time.Time) {
	if t.IsZero() {
		return
	}
	w.textElem(level, name, formatTime(t))
}

func formatTime(t time.Time) string {
	return normTime(t).Format(time.RFC3339Nano)
}

func (w *writer) nameID(n NameID) {
	w.open(2, "nameID", "aor", n.AOR)
	for _, nm := range n.Names {
		w.indent(3)
		w.b.WriteString("<name")
		w.attr("xml:lang", nm.Lang)
		w.b.WriteByte('>')
		escapeText(&w.b, nm.Text)
		w.b.WriteString("</name>\n")
	}
	w.close(2, "nameID", nil)
}

func (w *writer) extensions(level int, xs []Extension) {
	for _, x := range xs {
		w.indent(level)
		w.b.WriteString(x.XML)
		w.b.WriteByte('\n')
	}
}

// escapeText escapes character data so that a parser reads back exactly s:
// markup characters and CR (which parsers turn into LF) become references,
// and characters XML cannot hold become U+FFFD.
func escapeText(b *strings.Builder, s string) {
	escape(b, s, false)
}

// escapeAttr is escapeText for attribute values, where quotes and the
// whitespace characters that attribute normalisation would change are
// escaped too.
func escapeAttr(b *strings.Builder, s string) {
	escape(b, s, true)
}

func escape(b *strings.Builder, s string, attr bool) {
	last := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '>':
			esc = "&gt;"
		case r == '\r':
			esc = "&#xD;"
		case attr && r == '"':
			esc = "&quot;"
		case attr && r == '\n':
			esc = "&#xA;"
		case attr && r == '\t':
			esc = "&#x9;"
		case r == utf8.RuneError && width == 1, !isXMLChar(r):
			esc = "\uFFFD"
		default:
			i += width
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		i += width
		last = i
	}
	b.WriteString(s[last:])
}

// isXMLChar reports whether r is a Char of XML 1.0 §2.2.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}

// wellFormed reports whether s is exactly one XML element (with optional
// surrounding whitespace or comments).
func wellFormed(s string) error {
	d := xml.NewDecoder(strings.NewReader(s))
	roots := 0
	depth := 0
	for {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && strings.TrimSpace(string(t)) != "" {
				return errors.New("text outside the element")
			}
		case xml.ProcInst, xml.Directive:
			if depth == 0 {
				return errors.New("declaration outside the element")
			}
		}
	}
	if roots != 1 || depth != 0 {
		return errors.New("want exactly one element")
	}
	return nil
}
