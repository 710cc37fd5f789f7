// Package console is the operators' web console of a voicegw gateway.
package console
