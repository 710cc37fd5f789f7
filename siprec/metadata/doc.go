// Package metadata is the SIPREC recording metadata model of RFC 7865
// (application/rs-metadata+xml): parsing, canonical writing, merging of
// partial updates, and the relation between metadata streams and the SDP
// labels of RFC 4574 that RFC 7866 §9 requires.
//
// # The model
//
// A [Recording] is one <recording> document: its datamode, the communication
// session groups, communication sessions (CS), participants, media streams and
// the three association kinds of RFC 7865 §6 (sessionrecordingassoc,
// participantsessionassoc, participantstreamassoc). Every element keeps the
// extension elements it carried (RFC 7865 §8, xs:any namespace="##other") as
// [Extension] values holding their XML verbatim.
//
// # Parsing
//
// [Parse] is tolerant of what recording clients in the field send: the
// default namespace urn:ietf:params:xml:ns:recording:1 or any prefix for it,
// the pre-RFC namespace urn:ietf:params:xml:ns:recording and documents
// without a namespace; single or double quotes; CRLF or LF; element names in
// any letter case (<dataMode>); unknown attributes (ignored); unknown
// elements (kept as extensions and written back verbatim, with the namespace
// declarations they need); ISO-8859-1 documents; and the draft-era shapes
// some SBCs still send (id= and session= attributes, <aor> and <name>
// directly in <participant>, associate-time/disassociate-time inside
// <participant> or <session>), which are normalised into the RFC 7865 model.
// A second occurrence of a single-valued element (two <label> in one stream)
// is ignored. The XML must be well-formed: unquoted attribute values and
// undeclared entities are errors, reported as a [*ParseError] with the line,
// column and bad value.
//
// # Writing
//
// [Recording.Marshal] writes canonically: the default namespace, the element
// order of the RFC 7865 schema, extensions after the known children of their
// parent, times in RFC 3339 with "Z" for UTC. Parse → Marshal → Parse gives the
// same model and Marshal of that gives the same bytes.
//
// # State and merging
//
// A [State] holds a recording session's current metadata. [State.Apply] merges
// a partial document (RFC 7865 §5, datamode partial) into it or replaces it
// with a complete one, and returns what changed as a list of [Change]
// (participant joined or left, stream added or removed, session stopped,
// associations changed, recording ID changed).
//
// # SDP relation
//
// [Recording.CheckLabels] checks that every stream label of the metadata is an
// a=label of the SDP offer; [Recording.ParticipantStreams] says which
// participant sends and receives on which label.
//
// # Recording ID
//
// voicegw's recording client forwards a correlation ID to the recording
// server inside the metadata, as the extension element
//
//	<recordingID xmlns="urn:x-voicegw:siprec:1">ID</recordingID>
//
// placed directly in <recording> (the ID names the recording session, not one
// communication session). [Recording.SetRecordingID] writes it and
// [Recording.RecordingID] reads it, also from inside a <session>.
//
// RFC 7865: https://www.rfc-editor.org/rfc/rfc7865 ·
// RFC 7866: https://www.rfc-editor.org/rfc/rfc7866 ·
// RFC 8068 (call flows): https://www.rfc-editor.org/rfc/rfc8068
package metadata
