// Package storage turns an operator's bucket configuration into a working
// bucket for call recordings: Amazon S3, S3-compatible services, Google Cloud
// Storage, Azure Blob Storage, a local directory or memory, all through
// gocloud.dev/blob.
//
// Besides typed, validated configuration per vendor (secrets redacted in logs
// and masked when shown back), it offers a connection Test that writes, reads
// back and deletes a probe object, a streaming upload with tags and retries,
// and a local spool that keeps a recording until the bucket has confirmed it,
// across process restarts.
package storage
