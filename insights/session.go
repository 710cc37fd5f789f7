package insights

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Session is the Insights session document of seed 004: one per
// conversation. It marshals to exactly the JSON of the seed's model and
// example output document (field names, nesting, which fields are present).
//
// Presence rules, so a document read and written again keeps its shape:
// top-level strings, AgentInformation and ChannelData strings are omitted when
// empty; slices and maps are omitted when nil and written when empty ([] and
// {} survive a round trip); the fields of a flow step, of a parameter's
// name/value/value_text/completed and of a tag are always written, as in the
// seed. Top-level fields this type does not know are kept in Extra.
type Session struct {
	// ID is the session ID (an ID field: term only).
	ID string `json:"id,omitempty"`
	// AccountID is the account the session belongs to; the HTTP API scopes
	// every request to the account of its API key.
	AccountID string `json:"account_id,omitempty"`
	// APIKey is the agent's API key ("N/A" in the seed).
	APIKey string `json:"api_key,omitempty"`
	// Status is the session status: in_progress or ended.
	Status string `json:"status,omitempty"`
	// Language is the session language, for example en-US.
	Language string `json:"language,omitempty"`
	// Channel is telephony/voice, whatsapp or http.
	Channel string `json:"channel,omitempty"`
	// Source is the caller's number (or SIP user).
	Source string `json:"source,omitempty"`
	// Destination is the called number (the agent's number).
	Destination string `json:"destination,omitempty"`
	// SessionStartTime is when the session started; required to index it.
	SessionStartTime Time `json:"session_start_time,omitzero"`
	// SessionEndTime is when the session ended.
	SessionEndTime Time `json:"session_end_time,omitzero"`
	// AgentID is the agent (application) ID. Seed 004's example queries
	// filter and project on agent_id although its model has only
	// agent_information.id; voicegw writes both.
	AgentID          string           `json:"agent_id,omitempty"`
	AgentInformation AgentInformation `json:"agent_information,omitzero"`
	ChannelData      ChannelData      `json:"channel_data,omitzero"`
	// CallAttachedData is the account's Call Attached Data (seed 002): one
	// key per configured field, whose value (a string, number, boolean or
	// null) was taken from the session's variables. Its paths
	// call_attached_data.<name> are ID fields (term only). A voicegw
	// extension.
	CallAttachedData map[string]any `json:"call_attached_data,omitzero"`
	// Transcription holds what each party said, in order.
	Transcription []Utterance `json:"transcription,omitzero"`
	// Tags counts collected tags per category: tags.<category>.<tag>.
	Tags map[string]map[string]int `json:"tags,omitzero"`
	// TagsList has one entry per collected tag, with its count.
	TagsList []TagCount `json:"tags_list,omitzero"`
	// Params holds the last value of each collected parameter.
	Params map[string]ParamValue `json:"params,omitzero"`
	// ParamsList has one entry per parameter, with its last value.
	ParamsList []Parameter `json:"params_list,omitzero"`
	// RequestIDs lists the requests made during the session.
	RequestIDs []string   `json:"request_ids,omitzero"`
	FlowData   FlowData   `json:"flow_data,omitzero"`
	FlowPath   []FlowStep `json:"flow_path,omitzero"`

	// Extra keeps top-level fields this type does not know, as raw JSON,
	// so nothing is lost when a document from another producer is read and
	// written back. Keys that name a field above are ignored on marshal.
	Extra map[string]json.RawMessage `json:"-"`
}

// AgentInformation describes the agent (for voicegw: the application) that
// handled the session. All its fields are ID fields (term only).
type AgentInformation struct {
	VersionID string `json:"version_id,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Voice     string `json:"voice,omitempty"`
	Language  string `json:"language,omitempty"`
}

// Status codes of ChannelData.StatusCode (seed 004).
const (
	StatusCodeOK      = 0
	StatusCodeWarning = 100
	StatusCodeError   = 200
)

// ChannelData describes the telephony channel of the session, plus what a
// recording gateway knows of the call.
type ChannelData struct {
	// Duration is the call's duration in milliseconds (omitted when 0).
	Duration int64 `json:"duration,omitempty"`
	// AudioURL is the recording's object key,
	// ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav|mp3.
	AudioURL string `json:"audio_url,omitempty"`
	// CallStatus is in_progress or ended.
	CallStatus string `json:"call_status,omitempty"`
	// StatusCode is 0 (successful), 100 (warning) or 200 (erroneous); nil
	// when unknown. See StatusCodeOK and SetStatusCode.
	StatusCode *int `json:"status_code,omitempty"`
	// RecordingID is the recording ID given when the recording started
	// (forwarded to the recording server to correlate recordings). A voicegw
	// extension; an ID field.
	RecordingID string `json:"recording_id,omitempty"`
	// SIPCallID is the SIP Call-ID of the recorded call. A voicegw
	// extension; an ID field.
	//
	// For a SIPREC session it is the Call-ID of the SIPREC dialog (the
	// recording client's INVITE): standard recording metadata does not carry
	// the recorded call's own Call-ID. The recorded call is identified by
	// SIPSessionIDs (RFC 7989, end to end) and by the vendor's ExtensionData
	// (UCID, GUID…).
	SIPCallID string `json:"sip_call_id,omitempty"`
	// SIPSessionIDs are the Session-ID values (RFC 7989) of the recorded
	// call, from the recording metadata's <sipSessionID> elements. A voicegw
	// extension; an ID field.
	SIPSessionIDs []string `json:"sip_session_ids,omitzero"`
	// PlaybackURL is a link a browser plays the recording with, for a
	// limited time: a signed URL of the bucket (S3, GCS, Azure) or a link to
	// the Insights API's recording endpoint (see PlaybackConfig). The
	// Insights API adds it to each document it returns that has an
	// AudioURL; it is never stored (Index.Put drops it), since it expires.
	// A voicegw extension; an ID field.
	PlaybackURL string `json:"playback_url,omitempty"`
	// EndReason says how the call ended, in the words of
	// siprec.EndReason.String ("bye", "cancel", "shutdown", "no-ack",
	// "media-timeout", "media-error", "hangup" (the server ended it),
	// "error"), or "interrupted" for a session a crash or a shutdown cut
	// off. A voicegw extension; an ID field.
	EndReason string `json:"end_reason,omitempty"`
	// RecordingStatus is where the recording is: one of the
	// RecordingStatus constants (recording, uploading, uploaded,
	// upload_failing, failed). A voicegw extension; an ID field.
	RecordingStatus string `json:"recording_status,omitempty"`
	// RecordingRepaired is true when the recording was cut off by a crash
	// and repaired at the next start (it holds the audio flushed before
	// the crash). A voicegw extension.
	RecordingRepaired bool `json:"recording_repaired,omitempty"`
	// StatusReason says in words why StatusCode is a warning or an error
	// ("recording repaired after a crash", "upload failing (4 tries):
	// endpoint unreachable"…); "" when it is successful. A voicegw
	// extension, searchable with match.
	StatusReason string `json:"status_reason,omitempty"`
	// Participants are every participant of the recording metadata (RFC
	// 7865), in document order. A voicegw extension.
	Participants []Participant `json:"participants,omitzero"`
	// ExtensionData holds the vendor extension elements of the recording
	// metadata's <recording> and <session> elements as searchable key/values
	// (UCID, Cisco session GUID…; see the srs package for how elements
	// become keys): channel_data.extension_data.<key> is an ID field. A
	// voicegw extension.
	ExtensionData map[string][]string `json:"extension_data,omitzero"`
}

// Recording statuses (ChannelData.RecordingStatus).
const (
	// RecordingStatusRecording: the call is in progress and recorded.
	RecordingStatusRecording = "recording"
	// RecordingStatusUploading: the file is finished and on its way to the
	// bucket (in the upload spool, not yet confirmed).
	RecordingStatusUploading = "uploading"
	// RecordingStatusUploaded: the bucket confirmed the file; AudioURL
	// names it.
	RecordingStatusUploaded = "uploaded"
	// RecordingStatusUploadFailing: uploads of the file fail; it waits in
	// the spool and is retried until the bucket takes it.
	RecordingStatusUploadFailing = "upload_failing"
	// RecordingStatusFailed: there is no recording (it could not be
	// written or finalized).
	RecordingStatusFailed = "failed"
)

// Participant is one party of a recorded call, from the recording metadata
// (RFC 7865 participant, its nameIDs and the streams it sends and
// receives). Every field but Name is an ID field (term only) under
// channel_data.participants.
type Participant struct {
	// ID is the metadata's participant_id.
	ID string `json:"id,omitempty"`
	// Name is the first display name of the participant (searchable with
	// match).
	Name string `json:"name,omitempty"`
	// AOR is the participant's first address of record, as the metadata
	// writes it ("sip:+14085550100@198.51.100.10", "tel:+3222001").
	AOR string `json:"aor,omitempty"`
	// User is the user part of AOR: the number or user name
	// ("+14085550100", "alice").
	User string `json:"user,omitempty"`
	// AORs lists every address of record when the participant has more
	// than one.
	AORs []string `json:"aors,omitzero"`
	// Send and Recv are the labels (SDP a=label) of the streams the
	// participant sends and receives.
	Send []string `json:"send,omitzero"`
	Recv []string `json:"recv,omitzero"`
	// Left is true once the participant left the call (every association
	// of it has a disassociate-time).
	Left bool `json:"left,omitempty"`
	// ExtensionData holds the vendor extension elements of the
	// participant, as ChannelData.ExtensionData does for the call.
	ExtensionData map[string][]string `json:"extension_data,omitzero"`
}

// SetStatusCode sets StatusCode to code.
func (c *ChannelData) SetStatusCode(code int) { c.StatusCode = &code }

// Utterance is one entry of a transcription: who spoke and what they said.
// It marshals as the seed's one-key object {"<speaker>": "<text>"}.
type Utterance struct {
	// Speaker is "user" for the caller, or the agent's ID.
	Speaker string
	Text    string
}

// MarshalJSON writes {"<speaker>": "<text>"}.
func (u Utterance) MarshalJSON() ([]byte, error) {
	k, err := json.Marshal(u.Speaker)
	if err != nil {
		return nil, err
	}
	v, err := json.Marshal(u.Text)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(k)+len(v)+3)
	b = append(b, '{')
	b = append(b, k...)
	b = append(b, ':')
	b = append(b, v...)
	return append(b, '}'), nil
}

// UnmarshalJSON reads an object with exactly one string member.
func (u *Utterance) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("insights: transcription entry %s: %w", truncate(b), err)
	}
	if len(m) != 1 {
		return fmt.Errorf("insights: transcription entry %s: want one speaker, have %d", truncate(b), len(m))
	}
	for k, v := range m {
		u.Speaker, u.Text = k, v
	}
	return nil
}

// TagCount is one entry of tags_list.
type TagCount struct {
	Count    int    `json:"count"`
	Tag      string `json:"tag"`
	Category string `json:"category"`
}

// Tag is one collected tag.
type Tag struct {
	Tag      string `json:"tag"`
	Category string `json:"category"`
}

// ParamValue is the last value of one parameter in Session.Params.
type ParamValue struct {
	Completed bool   `json:"completed"`
	Value     string `json:"value"`
}

// Parameter is a collected, injected, execution or altered parameter.
type Parameter struct {
	ValueText string `json:"value_text"`
	Name      string `json:"name"`
	Completed bool   `json:"completed"`
	// Type is the entity type, for example sys.names.
	Type   string `json:"type,omitempty"`
	Value  string `json:"value"`
	Entity string `json:"entity,omitempty"`
	// AudioURL is the recording of the parameter's value.
	AudioURL      string  `json:"audio_url,omitempty"`
	AudioDuration float64 `json:"audio_duration,omitempty"`
	// AlterationSource says what changed the value: injected, completed
	// or classified (altered parameters only).
	AlterationSource string `json:"alteration_source,omitempty"`
}

// FlowData holds what the flow collected.
type FlowData struct {
	InjectedParameters  []Parameter `json:"injected_parameters,omitzero"`
	CollectedTags       []Tag       `json:"collected_tags,omitzero"`
	CollectedParameters []Parameter `json:"collected_parameters,omitzero"`
}

// FlowStep is one node execution of the agent's flow.
type FlowStep struct {
	Synchronized  bool         `json:"synchronized"`
	Request       StepRequest  `json:"request"`
	Response      StepResponse `json:"response"`
	Context       StepContext  `json:"context"`
	Type          string       `json:"type"`
	RequestID     string       `json:"request_id"`
	NodeID        string       `json:"node_id"`
	Tags          []Tag        `json:"tags,omitzero"`
	ExecutionTime int64        `json:"execution_time"`
}

// StepRequest is the webhook request a node made.
type StepRequest struct {
	Headers string `json:"headers"`
	Payload string `json:"payload"`
	Verb    string `json:"verb"`
	URL     string `json:"url"`
}

// StepResponse is the answer to a StepRequest.
type StepResponse struct {
	Code    int    `json:"code"`
	Payload string `json:"payload"`
}

// StepContext is the execution context of a node.
type StepContext struct {
	// Output is the node's output, any JSON (null in the seed).
	Output              json.RawMessage `json:"output"`
	UserInput           string          `json:"user_input"`
	ExecutionParameters []Parameter     `json:"execution_parameters,omitzero"`
	URL                 string          `json:"url"`
	Status              StepStatus      `json:"status"`
	AlteredParameters   []Parameter     `json:"altered_parameters,omitzero"`
}

// StepStatus is the status of a node execution.
type StepStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// isSessionField reports whether k is a top-level JSON name of Session.
func isSessionField(k string) bool {
	switch k {
	case "id", "account_id", "api_key", "status", "language", "channel", "source", "destination", "session_start_time", "session_end_time", "agent_id", "agent_information", "channel_data", "call_attached_data", "transcription", "tags", "tags_list", "params", "params_list", "request_ids", "flow_data", "flow_path":
		return true
	}
	return false
}

// sessionJSON has Session's fields without its methods.
type sessionJSON Session

// MarshalJSON writes the document, with the Extra fields after the known
// ones in key order.
func (s Session) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(sessionJSON(s))
	if err != nil || len(s.Extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(s.Extra))
	for k := range s.Extra {
		if !isSessionField(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	first := len(b) == 2
	for _, k := range keys {
		if !json.Valid(s.Extra[k]) {
			return nil, fmt.Errorf("insights: Extra[%q] is not valid JSON", k)
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		if err := json.Compact(&buf, s.Extra[k]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads a document; unknown top-level fields go to Extra.
func (s *Session) UnmarshalJSON(b []byte) error {
	var v sessionJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("insights: session document: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return fmt.Errorf("insights: session document: %w", err)
	}
	for k, raw := range all {
		if isSessionField(k) {
			continue
		}
		if v.Extra == nil {
			v.Extra = make(map[string]json.RawMessage)
		}
		v.Extra[k] = raw
	}
	*s = Session(v)
	return nil
}

// Time is a point in time written as the seed writes session times: Python's
// isoformat in UTC without a zone, "2020-10-08T17:09:27.758983" (the
// fraction is omitted when it is zero). It reads that form, with or without
// a fraction, and RFC 3339 times with a zone (converted to UTC). Times are
// kept to the microsecond.
type Time struct {
	time.Time
}

// TimeOf returns t as a Time (UTC, truncated to the microsecond).
func TimeOf(t time.Time) Time { return Time{t.UTC().Truncate(time.Microsecond)} }

// isoLayout is Python's isoformat without fraction.
const isoLayout = "2006-01-02T15:04:05"

// String returns the isoformat text.
func (t Time) String() string {
	u := t.UTC()
	if u.Nanosecond()/1000 == 0 {
		return u.Format(isoLayout)
	}
	return u.Format(isoLayout + ".000000")
}

// MarshalJSON writes the isoformat string.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte(`null`), nil
	}
	return []byte(`"` + t.String() + `"`), nil
}

// UnmarshalJSON reads an isoformat or RFC 3339 string (null leaves t zero).
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("insights: time %s: %w", truncate(b), err)
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseTime parses an isoformat datetime ("2021-01-15T08:09:43.377776",
// fraction optional, a space allowed instead of T) as UTC, or an RFC 3339
// datetime with a zone.
func ParseTime(s string) (Time, error) {
	for _, layout := range []string{isoLayout, "2006-01-02 15:04:05", time.RFC3339Nano, "2006-01-02 15:04:05Z07:00"} {
		if v, err := time.Parse(layout, s); err == nil {
			return TimeOf(v), nil
		}
	}
	// time.Parse accepts a fraction after seconds even when the layout
	// has none; it fails only for other shapes.
	return Time{}, fmt.Errorf("%w: %q is not an isoformat datetime", ErrInvalidTime, s)
}

func truncate(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}
