//go:build !unix

package fdlimit

func get() (Limits, error)   { return Limits{}, ErrUnsupported }
func raise() (Limits, error) { return Limits{}, ErrUnsupported }
