package metadata

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// State is the current metadata of one recording session: the first
// document, with every later one applied. The zero value is an empty state,
// ready to use. It is safe for concurrent use.
type State struct {
	mu  sync.Mutex
	cur Recording
}

// NewState returns a state holding a copy of doc applied to an empty state
// (nil gives an empty state).
func NewState(doc *Recording) *State {
	s := &State{}
	if doc != nil {
		s.Apply(doc)
	}
	return s
}

// Recording returns a copy of the current metadata; its DataMode is
// Complete.
func (s *State) Recording() *Recording {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.cur.Clone()
	r.DataMode = Complete
	return r
}

// Apply applies doc and returns what changed, in a fixed order: groups,
// sessions, recording associations, participants, streams, stream
// associations, recording ID; within each, in document order.
//
// A complete document replaces the state. A partial document (RFC 7865 §5)
// is merged, element by element, keyed by ID:
//   - a group, session, participant or stream with a new ID is added; one
//     with a known ID updates the fields the update gives (non-empty values,
//     non-empty lists replace the old lists); extensions replace the
//     extensions of the same name and add the others;
//   - a sessionrecordingassoc or participantsessionassoc updates the
//     association of the same session (and participant); a
//     disassociate-time ends it (participant left, session no longer
//     recorded), a later associate-time without one starts it again; a
//     participantsessionassoc without session_id applies to every session of
//     the participant;
//   - a participantstreamassoc states the participant's streams: its send
//     and recv lists replace the old ones; with a disassociate-time, the
//     listed streams (all when none is listed) are removed instead;
//   - extensions of <recording> (the recording ID) are merged like those of
//     elements.
//
// RFC 7865 has no way to remove a group, session, participant or stream in a
// partial update; they go away only when a complete document leaves them out.
func (s *State) Apply(doc *Recording) []Change {
	if doc == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var next *Recording
	if doc.IsPartial() {
		next = s.cur.Clone()
		merge(next, doc.Clone())
	} else {
		next = doc.Clone()
	}
	next.DataMode = Complete
	changes := diff(&s.cur, next)
	s.cur = *next
	return changes
}

// ChangeKind is what kind of change a Change reports.
type ChangeKind uint8

// The kinds of change Apply reports.
const (
	// GroupAdded and GroupRemoved: a communication session group appeared
	// or (complete document) disappeared. ID is the group ID.
	GroupAdded ChangeKind = iota + 1
	GroupRemoved
	// SessionAdded, SessionRemoved: a communication session appeared or
	// (complete document) disappeared. ID is the session ID.
	SessionAdded
	SessionRemoved
	// SessionStopped: the session got a stop-time (Time).
	SessionStopped
	// RecordingAssociated, RecordingDisassociated: a session's
	// sessionrecordingassoc started or ended (disassociate-time, Time): the
	// session is or is no longer being recorded. ID is the session ID.
	RecordingAssociated
	RecordingDisassociated
	// ParticipantJoined: a participant became active (new participant, or a
	// participantsessionassoc without disassociate-time). ID is the
	// participant ID, SessionID and Time those of the association when there
	// is one.
	ParticipantJoined
	// ParticipantLeft: a participant is no longer active (its
	// participantsessionassocs got a disassociate-time, Time; or a complete
	// document left it out).
	ParticipantLeft
	// ParticipantUpdated: the nameIDs (AOR, display names) of a participant
	// present before and after changed.
	ParticipantUpdated
	// StreamAdded, StreamRemoved: a stream appeared or (complete document)
	// disappeared. ID is the stream ID, Label its label, SessionID its session.
	StreamAdded
	StreamRemoved
	// StreamUpdated: a stream's label or session changed.
	StreamUpdated
	// StreamAssociationChanged: the streams a participant sends or receives
	// changed. ID is the participant ID; Send and Recv are the stream IDs
	// after the change.
	StreamAssociationChanged
	// RecordingIDChanged: voicegw's recording ID extension changed; Value is
	// the new ID ("" when removed).
	RecordingIDChanged
)

var kindNames = [...]string{
	GroupAdded:               "group-added",
	GroupRemoved:             "group-removed",
	SessionAdded:             "session-added",
	SessionRemoved:           "session-removed",
	SessionStopped:           "session-stopped",
	RecordingAssociated:      "recording-associated",
	RecordingDisassociated:   "recording-disassociated",
	ParticipantJoined:        "participant-joined",
	ParticipantLeft:          "participant-left",
	ParticipantUpdated:       "participant-updated",
	StreamAdded:              "stream-added",
	StreamRemoved:            "stream-removed",
	StreamUpdated:            "stream-updated",
	StreamAssociationChanged: "stream-association-changed",
	RecordingIDChanged:       "recording-id-changed",
}

// String returns the kind's name, such as "participant-left".
func (k ChangeKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one change reported by State.Apply.
type Change struct {
	Kind ChangeKind // what changed
	// ID is the group, session, participant or stream the change is about.
	ID string
	// SessionID is the communication session concerned, when known.
	SessionID string
	// Label is the stream label, for stream changes.
	Label string
	// Time is the time the document gave (associate, disassociate or stop
	// time); zero when it gave none.
	Time time.Time
	// Send and Recv are stream IDs, for StreamAssociationChanged.
	Send, Recv []string
	// Value is the new recording ID, for RecordingIDChanged.
	Value string
}

// String describes the change on one line, for logs.
func (c Change) String() string {
	var b strings.Builder
	b.WriteString(c.Kind.String())
	if c.ID != "" {
		b.WriteString(" " + c.ID)
	}
	if c.Label != "" {
		b.WriteString(" label=" + c.Label)
	}
	if c.SessionID != "" {
		b.WriteString(" session=" + c.SessionID)
	}
	if c.Kind == StreamAssociationChanged {
		fmt.Fprintf(&b, " send=%v recv=%v", c.Send, c.Recv)
	}
	if c.Kind == RecordingIDChanged {
		fmt.Fprintf(&b, " %q", c.Value)
	}
	if !c.Time.IsZero() {
		b.WriteString(" at " + formatTime(c.Time))
	}
	return b.String()
}

// merge applies the partial document u to dst.
func merge(dst, u *Recording) {
	for _, g := range u.Groups {
		if i := indexFunc(dst.Groups, func(x Group) bool { return x.ID == g.ID }); i >= 0 {
			d := &dst.Groups[i]
			mergeTimes(&d.AssociateTime, &d.DisassociateTime, g.AssociateTime, g.DisassociateTime)
			d.Extensions = mergeExtensions(d.Extensions, g.Extensions)
		} else {
			dst.Groups = append(dst.Groups, g)
		}
	}
	for _, s := range u.Sessions {
		i := indexFunc(dst.Sessions, func(x Session) bool { return x.ID == s.ID })
		if i < 0 {
			dst.Sessions = append(dst.Sessions, s)
			continue
		}
		d := &dst.Sessions[i]
		if len(s.SIPSessionIDs) > 0 {
			d.SIPSessionIDs = slices.Clone(s.SIPSessionIDs)
		}
		if len(s.Reasons) > 0 {
			d.Reasons = slices.Clone(s.Reasons)
		}
		if s.GroupRef != "" {
			d.GroupRef = s.GroupRef
		}
		if !s.StartTime.IsZero() {
			d.StartTime = s.StartTime
		}
		if !s.StopTime.IsZero() {
			d.StopTime = s.StopTime
		}
		d.Extensions = mergeExtensions(d.Extensions, s.Extensions)
	}
	for _, p := range u.Participants {
		i := indexFunc(dst.Participants, func(x Participant) bool { return x.ID == p.ID })
		if i < 0 {
			dst.Participants = append(dst.Participants, p)
			continue
		}
		d := &dst.Participants[i]
		if len(p.NameIDs) > 0 {
			d.NameIDs = p.NameIDs
		}
		if len(p.Send) > 0 || len(p.Recv) > 0 {
			d.Send, d.Recv = slices.Clone(p.Send), slices.Clone(p.Recv)
		}
		d.Extensions = mergeExtensions(d.Extensions, p.Extensions)
	}
	for _, s := range u.Streams {
		i := indexFunc(dst.Streams, func(x Stream) bool { return x.ID == s.ID })
		if i < 0 {
			dst.Streams = append(dst.Streams, s)
			continue
		}
		d := &dst.Streams[i]
		if s.SessionID != "" {
			d.SessionID = s.SessionID
		}
		if s.Label != "" {
			d.Label = s.Label
		}
		d.Extensions = mergeExtensions(d.Extensions, s.Extensions)
	}
	for _, a := range u.SessionRecordingAssocs {
		i := indexFunc(dst.SessionRecordingAssocs, func(x SessionRecordingAssoc) bool { return x.SessionID == a.SessionID })
		if i < 0 {
			dst.SessionRecordingAssocs = append(dst.SessionRecordingAssocs, a)
			continue
		}
		d := &dst.SessionRecordingAssocs[i]
		mergeTimes(&d.AssociateTime, &d.DisassociateTime, a.AssociateTime, a.DisassociateTime)
		d.Extensions = mergeExtensions(d.Extensions, a.Extensions)
	}
	for _, a := range u.ParticipantSessionAssocs {
		matched := false
		for i := range dst.ParticipantSessionAssocs {
			d := &dst.ParticipantSessionAssocs[i]
			if d.ParticipantID != a.ParticipantID || (a.SessionID != "" && d.SessionID != a.SessionID) {
				continue
			}
			matched = true
			mergeTimes(&d.AssociateTime, &d.DisassociateTime, a.AssociateTime, a.DisassociateTime)
			if len(a.Params) > 0 {
				d.Params = slices.Clone(a.Params)
			}
			d.Extensions = mergeExtensions(d.Extensions, a.Extensions)
		}
		if !matched {
			dst.ParticipantSessionAssocs = append(dst.ParticipantSessionAssocs, a)
		}
	}
	for _, a := range u.ParticipantStreamAssocs {
		i := indexFunc(dst.ParticipantStreamAssocs, func(x ParticipantStreamAssoc) bool { return x.ParticipantID == a.ParticipantID })
		if i < 0 {
			if !a.DisassociateTime.IsZero() {
				a.Send, a.Recv = nil, nil
			}
			dst.ParticipantStreamAssocs = append(dst.ParticipantStreamAssocs, a)
			continue
		}
		d := &dst.ParticipantStreamAssocs[i]
		if a.DisassociateTime.IsZero() {
			d.Send, d.Recv = slices.Clone(a.Send), slices.Clone(a.Recv)
			if !a.AssociateTime.IsZero() {
				d.AssociateTime = a.AssociateTime
			}
			d.DisassociateTime = time.Time{}
		} else {
			if len(a.Send) == 0 && len(a.Recv) == 0 {
				d.Send, d.Recv = nil, nil
			} else {
				d.Send = without(d.Send, a.Send)
				d.Recv = without(d.Recv, a.Recv)
			}
			d.DisassociateTime = a.DisassociateTime
		}
		d.Extensions = mergeExtensions(d.Extensions, a.Extensions)
	}
	dst.Extensions = mergeExtensions(dst.Extensions, u.Extensions)
}

// mergeTimes applies an update's associate/disassociate times: a
// disassociate-time ends the association, an associate-time not before the
// old disassociate-time (and without one of its own) starts it again.
func mergeTimes(a, d *time.Time, na, nd time.Time) {
	if !na.IsZero() {
		*a = na
		if nd.IsZero() && !d.IsZero() && !na.Before(*d) {
			*d = time.Time{}
		}
	}
	if !nd.IsZero() {
		*d = nd
	}
}

func without(list, remove []string) []string {
	var out []string
	for _, v := range list {
		if !slices.Contains(remove, v) {
			out = append(out, v)
		}
	}
	return out
}

// mergeExtensions replaces the extensions of old that have the name of one in
// upd and appends the rest of upd.
func mergeExtensions(old, upd []Extension) []Extension {
	if len(upd) == 0 {
		return old
	}
	var out []Extension
	for _, x := range old {
		if !slices.ContainsFunc(upd, func(u Extension) bool { return u.Is(x.Space, x.Local) }) {
			out = append(out, x)
		}
	}
	return append(out, upd...)
}

// diff lists the changes from old to cur.
func diff(old, cur *Recording) []Change {
	var out []Change
	// Groups.
	for _, g := range cur.Groups {
		if !slices.ContainsFunc(old.Groups, func(x Group) bool { return x.ID == g.ID }) {
			out = append(out, Change{Kind: GroupAdded, ID: g.ID, Time: g.AssociateTime})
		}
	}
	for _, g := range old.Groups {
		if !slices.ContainsFunc(cur.Groups, func(x Group) bool { return x.ID == g.ID }) {
			out = append(out, Change{Kind: GroupRemoved, ID: g.ID})
		}
	}
	// Sessions.
	for _, s := range cur.Sessions {
		o, had := old.Session(s.ID)
		if !had {
			out = append(out, Change{Kind: SessionAdded, ID: s.ID, SessionID: s.ID, Time: s.StartTime})
		}
		if !s.StopTime.IsZero() && o.StopTime.IsZero() {
			out = append(out, Change{Kind: SessionStopped, ID: s.ID, SessionID: s.ID, Time: s.StopTime})
		}
	}
	for _, s := range old.Sessions {
		if _, ok := cur.Session(s.ID); !ok {
			out = append(out, Change{Kind: SessionRemoved, ID: s.ID, SessionID: s.ID})
		}
	}
	// Recording associations.
	recorded := func(r *Recording, id string) (bool, SessionRecordingAssoc) {
		for _, a := range r.SessionRecordingAssocs {
			if a.SessionID == id {
				return a.DisassociateTime.IsZero(), a
			}
		}
		return false, SessionRecordingAssoc{}
	}
	for _, a := range cur.SessionRecordingAssocs {
		was, _ := recorded(old, a.SessionID)
		is := a.DisassociateTime.IsZero()
		switch {
		case is && !was:
			out = append(out, Change{Kind: RecordingAssociated, ID: a.SessionID, SessionID: a.SessionID, Time: a.AssociateTime})
		case !is && was:
			out = append(out, Change{Kind: RecordingDisassociated, ID: a.SessionID, SessionID: a.SessionID, Time: a.DisassociateTime})
		}
	}
	for _, a := range old.SessionRecordingAssocs {
		if !slices.ContainsFunc(cur.SessionRecordingAssocs, func(x SessionRecordingAssoc) bool { return x.SessionID == a.SessionID }) && a.DisassociateTime.IsZero() {
			out = append(out, Change{Kind: RecordingDisassociated, ID: a.SessionID, SessionID: a.SessionID})
		}
	}
	// Participants.
	before, after := activity(old), activity(cur)
	for _, id := range after.order {
		now, was := after.state[id], before.state[id]
		switch {
		case now.active && !was.active:
			out = append(out, Change{Kind: ParticipantJoined, ID: id, SessionID: now.sessionID, Time: now.at})
		case !now.active && was.active:
			out = append(out, Change{Kind: ParticipantLeft, ID: id, SessionID: now.sessionID, Time: now.at})
		}
	}
	for _, id := range before.order {
		if _, ok := after.state[id]; !ok && before.state[id].active {
			out = append(out, Change{Kind: ParticipantLeft, ID: id, SessionID: before.state[id].sessionID})
		}
	}
	for _, p := range cur.Participants {
		o, ok := old.Participant(p.ID)
		if ok && before.state[p.ID].active == after.state[p.ID].active && !reflect.DeepEqual(o.NameIDs, p.NameIDs) {
			out = append(out, Change{Kind: ParticipantUpdated, ID: p.ID})
		}
	}
	// Streams.
	for _, s := range cur.Streams {
		o, ok := old.Stream(s.ID)
		switch {
		case !ok:
			out = append(out, Change{Kind: StreamAdded, ID: s.ID, SessionID: s.SessionID, Label: s.Label})
		case o.Label != s.Label || o.SessionID != s.SessionID:
			out = append(out, Change{Kind: StreamUpdated, ID: s.ID, SessionID: s.SessionID, Label: s.Label})
		}
	}
	for _, s := range old.Streams {
		if _, ok := cur.Stream(s.ID); !ok {
			out = append(out, Change{Kind: StreamRemoved, ID: s.ID, SessionID: s.SessionID, Label: s.Label})
		}
	}
	// Stream associations.
	for _, id := range after.order {
		send, recv := cur.streamsOf(id)
		os, or := old.streamsOf(id)
		if !sameSet(send, os) || !sameSet(recv, or) {
			out = append(out, Change{Kind: StreamAssociationChanged, ID: id, Send: send, Recv: recv})
		}
	}
	for _, id := range before.order {
		if _, ok := after.state[id]; ok {
			continue
		}
		if os, or := old.streamsOf(id); len(os) > 0 || len(or) > 0 {
			out = append(out, Change{Kind: StreamAssociationChanged, ID: id})
		}
	}
	if o, n := old.RecordingID(), cur.RecordingID(); o != n {
		out = append(out, Change{Kind: RecordingIDChanged, Value: n})
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}
