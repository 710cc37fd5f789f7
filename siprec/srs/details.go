package srs

import (
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/siprec/metadata"
	"github.com/voicegw/voicegw/tenancy"
)

// Bounds of what a session's metadata puts in its document: a recording
// client's metadata is bounded by siprec.Config, these bound the document.
const (
	// MaxExtensionValues bounds the extension key/values kept per element
	// (the call, each participant); the rest is dropped.
	MaxExtensionValues = 64
	// MaxExtensionValueLen bounds each extension value and header value, in
	// bytes; longer values are cut at a character boundary.
	MaxExtensionValueLen = 512
	// maxExtensionKeyLen bounds an extension key.
	maxExtensionKeyLen = 64
)

// CallDetails is what a session's recording metadata and INVITE tell
// beyond its parties, and what became of its recording: the Server keeps it
// in the journal entry (Entry.Details), so a session completed after a crash
// has it too, and writes it into the session document.
type CallDetails struct {
	// Participants are every participant of the metadata.
	Participants []insights.Participant `json:"participants,omitempty"`
	// ExtensionData are the vendor extensions of the metadata's
	// <recording>, <group> and <session> elements (see ExtensionData).
	ExtensionData map[string][]string `json:"extension_data,omitempty"`
	// SIPSessionIDs are the recorded call's Session-ID values (RFC 7989).
	SIPSessionIDs []string `json:"sip_session_ids,omitempty"`
	// Headers holds the INVITE's headers that the account's call attached
	// data reads, by variable ("SIP.X_Customer_ID" → value), taken when
	// the session started.
	Headers map[string]string `json:"headers,omitempty"`

	// RecordingError says why the recording failed (no file), "" when it
	// did not.
	RecordingError string `json:"recording_error,omitempty"`
	// Unspooled: the recording was finalized but the upload spool did not
	// take it (it waits in the recording directory for a retry).
	Unspooled bool `json:"unspooled,omitempty"`
	// Repaired: a crash cut the recording off; it was repaired at the next
	// start.
	Repaired bool `json:"repaired,omitempty"`
	// Missing: the session was recorded but no file was found after a
	// crash.
	Missing bool `json:"missing,omitempty"`
}

// DetailsOf returns the details of a session's metadata: every participant
// with its name, addresses of record, the labels of the streams it sends and
// receives, whether it left, and its extension data; the extension data of
// the call; the Session-IDs.
func DetailsOf(md *metadata.Recording) CallDetails {
	var d CallDetails
	if md == nil {
		return d
	}
	for _, ps := range md.ParticipantStreams() {
		p := ps.Participant
		ip := insights.Participant{ID: p.ID, Name: p.DisplayName(), AOR: p.AOR(), Send: ps.Send, Recv: ps.Recv, Left: !ps.Active,
			ExtensionData: ExtensionData(p.Extensions...)}
		ip.User = userOf(ip.AOR)
		for _, n := range p.NameIDs {
			if n.AOR != "" && !slices.Contains(ip.AORs, n.AOR) {
				ip.AORs = append(ip.AORs, n.AOR)
			}
		}
		if len(ip.AORs) < 2 {
			ip.AORs = nil
		}
		d.Participants = append(d.Participants, ip)
	}
	xs := slices.Clone(md.Extensions)
	for _, g := range md.Groups {
		xs = append(xs, g.Extensions...)
	}
	for _, s := range md.Sessions {
		xs = append(xs, s.Extensions...)
		for _, id := range s.SIPSessionIDs {
			if id = strings.TrimSpace(id); id != "" && !slices.Contains(d.SIPSessionIDs, id) {
				d.SIPSessionIDs = append(d.SIPSessionIDs, id)
			}
		}
	}
	d.ExtensionData = ExtensionData(xs...)
	return d
}

// userOf returns the user part of an address of record: "+14085550100"
// of "sip:+14085550100@198.51.100.10;user=phone", "+3222001" of
// "tel:+3222001", "" when there is none.
func userOf(aor string) string {
	s := aor
	for _, scheme := range []string{"sip:", "sips:", "tel:"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			s = s[len(scheme):]
			break
		}
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	} else if !strings.HasPrefix(strings.ToLower(aor), "tel:") {
		return ""
	}
	if i := strings.IndexAny(s, ";?"); i >= 0 {
		s = s[:i]
	}
	return s
}

// ExtensionData turns vendor extension elements of recording metadata into
// key/values that a session document keeps searchable:
//
//   - an element with text and no child element gives its local name and
//     its text: <avaya:ucid>00FA08…</avaya:ucid> is ucid=00FA08…;
//   - each attribute gives the element's and the attribute's local names
//     joined by "_": <avaya:skill name="billing" id="42"/> is
//     skill_name=billing and skill_id=42; but an element with text and a
//     single attribute named key or name gives that attribute's value and
//     the text: <attached key="queue">sales</attached> is queue=sales;
//   - wrapping elements add nothing of their own: Cisco's
//     <ccext:callData><ccext:guid>…</ccext:guid></ccext:callData> is
//     guid=…, Oracle's <extensiondata><apkt:ucid>…</apkt:ucid> is ucid=….
//
// Namespaces are dropped (the same UCID key whatever the vendor), keys are
// made of letters, digits, '_' and '-' (other characters become '_'), a
// key that repeats keeps each distinct value in order, values are trimmed and
// cut to MaxExtensionValueLen, and at most MaxExtensionValues are kept.
// voicegw's own recordingID extension is left out (it is the recording ID).
// nil when there is nothing.
func ExtensionData(xs ...metadata.Extension) map[string][]string {
	var out map[string][]string
	n := 0
	add := func(k, v string) {
		k, v = extensionKey(k), cut(strings.TrimSpace(v), MaxExtensionValueLen)
		if k == "" || v == "" || n >= MaxExtensionValues {
			return
		}
		if out == nil {
			out = map[string][]string{}
		}
		if !slices.Contains(out[k], v) {
			out[k] = append(out[k], v)
			n++
		}
	}
	for _, x := range xs {
		if x.Is(metadata.ExtensionNamespace, metadata.RecordingIDElement) {
			continue
		}
		walkExtension(x.XML, add)
	}
	return out
}

// walkExtension reads one extension element and calls add for each of its
// key/values (see ExtensionData).
func walkExtension(doc string, add func(k, v string)) {
	type elem struct {
		local    string
		attrs    []xml.Attr
		text     strings.Builder
		children bool
	}
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = false
	var stack []*elem
	for {
		t, err := d.Token()
		if err == io.EOF || err != nil {
			return
		}
		switch t := t.(type) {
		case xml.StartElement:
			if len(stack) > 0 {
				stack[len(stack)-1].children = true
			}
			e := &elem{local: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue
				}
				e.attrs = append(e.attrs, a)
			}
			stack = append(stack, e)
		case xml.CharData:
			if len(stack) > 0 && stack[len(stack)-1].text.Len() < 2*MaxExtensionValueLen {
				stack[len(stack)-1].text.Write(t)
			}
		case xml.EndElement:
			if len(stack) == 0 {
				return
			}
			e := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			text := strings.TrimSpace(e.text.String())
			leaf := !e.children && text != ""
			if leaf && len(e.attrs) == 1 && (e.attrs[0].Name.Local == "key" || e.attrs[0].Name.Local == "name") {
				add(e.attrs[0].Value, text)
				continue
			}
			for _, a := range e.attrs {
				add(e.local+"_"+a.Name.Local, a.Value)
			}
			if leaf {
				add(e.local, text)
			}
		}
	}
}

// extensionKey makes k a key: letters, digits, '_' and '-', at most
// maxExtensionKeyLen bytes.
func extensionKey(k string) string {
	k = strings.TrimSpace(k)
	if len(k) > maxExtensionKeyLen {
		k = cut(k, maxExtensionKeyLen)
	}
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, k)
}

// cut returns s cut to at most n bytes at a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Variable paths of call attached data (tenancy.CADField.Value) for a
// SIPREC session. The Interaction variables (the session), Metadata.<key>
// (the first value of a key of the call's extension data, '-' read as '_':
// Metadata.ucid, Metadata.in_realm) and SIP.<Header_Name> (a header of the
// recording client's INVITE, '_' read as '-', any case: SIP.X_Customer_ID
// is the X-Customer-ID header). Authorization and Proxy-Authorization are
// never read. A variable the session does not have is null.
const (
	VarSessionID      = "Interaction.id"             // the session ID
	VarStatus         = "Interaction.status"         // in_progress or ended
	VarOrganizationID = "Interaction.organizationId" // the account SID (seed 002's example)
	VarAccountID      = "Interaction.accountId"      // the account SID
	VarApplicationID  = "Interaction.applicationId"  // the SIPREC application's SID ("-" for none)
	VarSource         = "Interaction.source"         // the first participant (number or user)
	VarDestination    = "Interaction.destination"    // the second participant
	VarCallID         = "Interaction.callId"         // the SIPREC dialog's Call-ID
	VarRecordingID    = "Interaction.recordingId"    // the recording ID the client forwarded
	VarSIPSessionID   = "Interaction.sipSessionId"   // the first Session-ID (RFC 7989) of the recorded call
	VarStartTime      = "Interaction.startTime"      // isoformat, UTC
	VarEndTime        = "Interaction.endTime"        // isoformat, UTC; null while in progress
	VarDuration       = "Interaction.duration"       // milliseconds; null while in progress
	VarEndReason      = "Interaction.endReason"      // channel_data.end_reason
	VarStatusCode     = "Interaction.statusCode"     // 0, 100 or 200; null while in progress
	VarAudioURL       = "Interaction.audioUrl"       // the recording's object key
	VarParticipants   = "Interaction.participants"   // how many participants the metadata names

	// VarMetadataPrefix and VarSIPPrefix start the metadata and SIP header
	// variables.
	VarMetadataPrefix = "Metadata."
	VarSIPPrefix      = "SIP."
)

// sipHeaders returns the INVITE's headers that fields read (SIP.<name>),
// by variable, each cut to MaxExtensionValueLen.
func sipHeaders(fields []tenancy.CADField, req *sipgosip.Request) map[string]string {
	if req == nil {
		return nil
	}
	var out map[string]string
	for _, f := range fields {
		name, ok := strings.CutPrefix(f.Value, VarSIPPrefix)
		if !ok || strings.Contains(name, ".") {
			continue
		}
		name = strings.ReplaceAll(name, "_", "-")
		if strings.EqualFold(name, "Authorization") || strings.EqualFold(name, "Proxy-Authorization") {
			continue // digest responses are secrets
		}
		if h := req.GetHeader(name); h != nil {
			if out == nil {
				out = map[string]string{}
			}
			out[f.Value] = cut(h.Value(), MaxExtensionValueLen)
		}
	}
	return out
}

// variables returns the values call attached data may read for a session
// document.
func variables(doc *insights.Session, d *CallDetails) tenancy.Variables {
	v := tenancy.Variables{}
	set := func(k string, x any) {
		if s, ok := x.(string); ok && s == "" {
			return
		}
		v[k] = x
	}
	cd := &doc.ChannelData
	set(VarSessionID, doc.ID)
	set(VarStatus, doc.Status)
	set(VarOrganizationID, doc.AccountID)
	set(VarAccountID, doc.AccountID)
	set(VarApplicationID, doc.AgentID)
	set(VarSource, doc.Source)
	set(VarDestination, doc.Destination)
	set(VarCallID, cd.SIPCallID)
	set(VarRecordingID, cd.RecordingID)
	if len(d.SIPSessionIDs) > 0 {
		set(VarSIPSessionID, d.SIPSessionIDs[0])
	}
	set(VarStartTime, doc.SessionStartTime.String())
	if !doc.SessionEndTime.IsZero() {
		set(VarEndTime, doc.SessionEndTime.String())
		set(VarDuration, cd.Duration)
	}
	set(VarEndReason, cd.EndReason)
	if cd.StatusCode != nil {
		set(VarStatusCode, *cd.StatusCode)
	}
	set(VarAudioURL, cd.AudioURL)
	set(VarParticipants, len(d.Participants))
	for k, vals := range d.ExtensionData {
		if len(vals) > 0 {
			set(VarMetadataPrefix+strings.ReplaceAll(k, "-", "_"), vals[0])
		}
	}
	for k, x := range d.Headers {
		set(k, x)
	}
	return v
}

// callAttachedData returns the account's call attached data of a session
// document: tenancy.BuildPayload over the session's variables. nil when the
// account configures none or its configuration is invalid (logged by the
// caller).
func callAttachedData(fields []tenancy.CADField, doc *insights.Session, d *CallDetails) (map[string]any, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	p, err := tenancy.BuildPayload(fields, variables(doc, d))
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(p))
	for _, kv := range p {
		out[kv.Key] = kv.Value
	}
	return out, nil
}

// isoTime is the isoformat of t in UTC (insights.Time).
func isoTime(t time.Time) string { return insights.TimeOf(t).String() }
