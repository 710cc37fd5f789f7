// Package siprec implements SIP-based Media Recording: RFC 7866 (the
// protocol), RFC 7865 (the recording metadata) and the call flows of RFC 8068.
//
// It has both sides of a recording session: the recording server (SRS) that
// accepts SIPREC INVITEs from SBCs and PBXs and streams each labelled stream's
// decoded audio to a sink, and the recording client (SRC) dialog manager that
// starts, stops, pauses and resumes recording of a call to one or more
// recording servers in parallel. The metadata model (application/rs-metadata+xml)
// and multipart/mixed bodies are shared by both.
package siprec
