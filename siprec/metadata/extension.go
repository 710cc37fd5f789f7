package metadata

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// Extension is an element the model does not know (RFC 7865 allows elements
// of other namespaces almost everywhere), kept verbatim.
type Extension struct {
	// Space is the element's namespace URI (an undeclared prefix is kept as
	// written); Local is its local name.
	Space, Local string
	// XML is the element exactly as received, with the namespace
	// declarations it used from its ancestors added to its start tag, so it
	// can be written anywhere on its own.
	XML string
}

// NewTextExtension returns the extension <local xmlns="space">text</local>.
// local must be an XML name.
func NewTextExtension(space, local, text string) Extension {
	var b strings.Builder
	b.Grow(len(local)*2 + len(space) + len(text) + 16)
	b.WriteByte('<')
	b.WriteString(local)
	if space != "" {
		b.WriteString(` xmlns="`)
		escapeAttr(&b, space)
		b.WriteByte('"')
	}
	b.WriteByte('>')
	escapeText(&b, text)
	b.WriteString("</")
	b.WriteString(local)
	b.WriteByte('>')
	return Extension{Space: space, Local: local, XML: b.String()}
}

// Text returns the character data of the extension element and all its
// descendants, trimmed; "" when the XML cannot be read.
func (x Extension) Text() string {
	d := xml.NewDecoder(strings.NewReader(x.XML))
	var b strings.Builder
	for {
		t, err := d.RawToken()
		if err == io.EOF {
			return strings.TrimSpace(b.String())
		}
		if err != nil {
			return ""
		}
		if c, ok := t.(xml.CharData); ok {
			b.Write(c)
		}
	}
}

func (x Extension) check() error {
	if !strings.HasPrefix(strings.TrimSpace(x.XML), "<") {
		return errors.New("not an element")
	}
	return wellFormed(x.XML)
}

// Is reports whether the extension is the element local of namespace space.
func (x Extension) Is(space, local string) bool {
	return x.Space == space && x.Local == local
}

// FindExtension returns the first extension of xs that is the element local of
// namespace space.
func FindExtension(xs []Extension, space, local string) (Extension, bool) {
	for _, x := range xs {
		if x.Is(space, local) {
			return x, true
		}
	}
	return Extension{}, false
}

// ExtensionNamespace is voicegw's namespace for its own metadata extensions.
const ExtensionNamespace = "urn:x-voicegw:siprec:1"

// RecordingIDElement is the local name of voicegw's recording ID extension:
//
//	<recordingID xmlns="urn:x-voicegw:siprec:1">ID</recordingID>
//
// It is written as a direct child of <recording>.
const RecordingIDElement = "recordingID"

// RecordingID returns the recording ID a voicegw recording client forwarded
// (the recordingID extension directly in <recording>, else the first one
// inside a <session>), or "".
func (r *Recording) RecordingID() string {
	if x, ok := FindExtension(r.Extensions, ExtensionNamespace, RecordingIDElement); ok {
		return x.Text()
	}
	for _, s := range r.Sessions {
		if x, ok := FindExtension(s.Extensions, ExtensionNamespace, RecordingIDElement); ok {
			return x.Text()
		}
	}
	return ""
}

// SetRecordingID sets the recording ID extension of <recording>, replacing
// any previous one; an empty id removes it.
func (r *Recording) SetRecordingID(id string) {
	r.Extensions = removeExtensions(r.Extensions, ExtensionNamespace, RecordingIDElement)
	if id != "" {
		r.Extensions = append(r.Extensions, NewTextExtension(ExtensionNamespace, RecordingIDElement, id))
	}
}

func removeExtensions(xs []Extension, space, local string) []Extension {
	out := xs[:0:0]
	for _, x := range xs {
		if !x.Is(space, local) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
