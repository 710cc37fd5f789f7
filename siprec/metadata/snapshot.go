package metadata

import "fmt"

// RequestSnapshot is the <requestsnapshot> document a recording server sends
// to ask the client for a complete metadata snapshot (RFC 7865 §7, RFC 7866
// §9.3), for instance after the server lost its state.
type RequestSnapshot struct {
	// Reason is the <requestreason>, with its xml:lang.
	Reason     Name
	Extensions []Extension // unknown child elements
}

// ParseRequestSnapshot reads a <requestsnapshot> document, with the same
// tolerance as Parse.
func ParseRequestSnapshot(doc []byte) (*RequestSnapshot, error) {
	p, err := newParser(doc)
	if err != nil {
		return nil, err
	}
	root, err := p.root()
	if err != nil {
		return nil, err
	}
	if p.known(root.Name) != "requestsnapshot" {
		return nil, p.errAt(ErrNotRecording, root.Name.Local, clark(p.resolve(root.Name.Space, true), root.Name.Local), "want <requestsnapshot> in "+Namespace)
	}
	s := &RequestSnapshot{}
	seen := false
	for {
		c, ok, err := p.child()
		if err != nil {
			return nil, err
		}
		if !ok {
			return s, nil
		}
		if p.known(c.Name) == "requestreason" {
			lang := p.lang(c)
			v, err := p.text()
			if err != nil {
				return nil, err
			}
			if !seen {
				s.Reason, seen = Name{Lang: lang, Text: v}, true
			}
			continue
		}
		x, err := p.extension(c)
		if err != nil {
			return nil, err
		}
		s.Extensions = append(s.Extensions, x)
	}
}

// Marshal writes the snapshot request canonically.
func (s *RequestSnapshot) Marshal() ([]byte, error) {
	for _, x := range s.Extensions {
		if err := x.check(); err != nil {
			return nil, fmt.Errorf("%w: extension in requestsnapshot: %w", ErrInvalidModel, err)
		}
	}
	w := writer{}
	w.b.WriteString(xmlHeader)
	w.b.WriteString(`<requestsnapshot xmlns="` + Namespace + `">` + "\n")
	if s.Reason != (Name{}) {
		w.indent(1)
		w.b.WriteString("<requestreason")
		w.attr("xml:lang", s.Reason.Lang)
		w.b.WriteByte('>')
		escapeText(&w.b, s.Reason.Text)
		w.b.WriteString("</requestreason>\n")
	}
	w.extensions(1, s.Extensions)
	w.b.WriteString("</requestsnapshot>\n")
	return []byte(w.b.String()), nil
}
