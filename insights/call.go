package insights

import (
	"strings"
	"time"
)

// Session statuses (status and channel_data.call_status).
const (
	StatusInProgress = "in_progress"
	StatusEnded      = "ended"
)

// ChannelVoice is the channel of a telephony session, as in seed 004's
// example output.
const ChannelVoice = "voice"

// CallRecord is what a recording gateway knows of one recorded call (for
// voicegw: one SIPREC session). NewCallSession turns it into the session
// document.
type CallRecord struct {
	// SessionID is the session's ID (the recording's object name).
	SessionID string
	// AccountID and ApplicationID are the tenant's account and
	// application SIDs.
	AccountID     string
	ApplicationID string
	// Source and Destination are the caller and callee, from the
	// recording metadata's participants (number or SIP user).
	Source, Destination string
	// Start and End bound the call; a zero End means it is in progress.
	Start, End time.Time
	// Format is the recording's format, "wav" or "mp3"; empty means the
	// call has no recording (no audio_url).
	Format string
	// StatusCode is StatusCodeOK (the default), StatusCodeWarning or
	// StatusCodeError.
	StatusCode int
	// RecordingID is the recording ID given at start, if any.
	RecordingID string
	// SIPCallID is the SIP Call-ID of the call.
	SIPCallID string
	// Channel defaults to ChannelVoice.
	Channel string
	// Language is the call's language, if known.
	Language string
	// SIPSessionIDs are the recorded call's Session-ID values (RFC 7989).
	SIPSessionIDs []string
	// Participants are the parties of the recording metadata.
	Participants []Participant
	// ExtensionData holds the metadata's vendor extensions as key/values.
	ExtensionData map[string][]string
	// CallAttachedData is the account's call attached data of the call.
	CallAttachedData map[string]any
	// EndReason says how the call ended (ChannelData.EndReason).
	EndReason string
	// RecordingStatus is one of the RecordingStatus constants; empty
	// means RecordingStatusRecording while the call is in progress and
	// RecordingStatusUploading once it ended (when Format is set).
	RecordingStatus string
	// StatusReason explains a warning or error StatusCode.
	StatusReason string
	// RecordingRepaired: the recording was repaired after a crash.
	RecordingRepaired bool
}

// AudioURL returns the object key of a recording,
// ACCOUNT_SID/APPLICATION_SID/SESSION_ID.<format> (seed 004's audio_url).
func AudioURL(accountID, applicationID, sessionID, format string) string {
	return accountID + "/" + applicationID + "/" + sessionID + "." + strings.ToLower(format)
}

// NewCallSession returns the session document of a recorded call: id,
// account, source and destination, start and end time, duration in
// milliseconds, audio_url, status and call_status (in_progress, or ended
// when End is set), status_code (once ended; nil while in progress), the
// application as agent_id and agent_information.id, the recording ID, SIP
// Call-ID, Session-IDs, participants, extension data, end reason and
// recording status in channel_data, and the call attached data.
func NewCallSession(c CallRecord) *Session {
	s := &Session{
		ID:               c.SessionID,
		AccountID:        c.AccountID,
		Source:           c.Source,
		Destination:      c.Destination,
		Channel:          c.Channel,
		Language:         c.Language,
		SessionStartTime: TimeOf(c.Start),
		AgentID:          c.ApplicationID,
		AgentInformation: AgentInformation{ID: c.ApplicationID},
		Status:           StatusInProgress,
		ChannelData: ChannelData{
			CallStatus:        StatusInProgress,
			RecordingID:       c.RecordingID,
			SIPCallID:         c.SIPCallID,
			SIPSessionIDs:     c.SIPSessionIDs,
			EndReason:         c.EndReason,
			RecordingStatus:   c.RecordingStatus,
			RecordingRepaired: c.RecordingRepaired,
			Participants:      c.Participants,
			ExtensionData:     c.ExtensionData,
		},
		CallAttachedData: c.CallAttachedData,
	}
	if s.Channel == "" {
		s.Channel = ChannelVoice
	}
	if !c.End.IsZero() {
		s.SessionEndTime = TimeOf(c.End)
		s.Status, s.ChannelData.CallStatus = StatusEnded, StatusEnded
		if d := c.End.Sub(c.Start); d > 0 {
			s.ChannelData.Duration = d.Milliseconds()
		}
	}
	if c.Format != "" {
		s.ChannelData.AudioURL = AudioURL(c.AccountID, c.ApplicationID, c.SessionID, c.Format)
		if s.ChannelData.RecordingStatus == "" {
			s.ChannelData.RecordingStatus = RecordingStatusRecording
			if !c.End.IsZero() {
				s.ChannelData.RecordingStatus = RecordingStatusUploading
			}
		}
	}
	if !c.End.IsZero() {
		s.ChannelData.SetStatusCode(c.StatusCode)
		if c.StatusCode != StatusCodeOK {
			s.ChannelData.StatusReason = c.StatusReason
		}
	}
	return s
}
