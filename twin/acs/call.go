package acs

import (
	"encoding/json"
	"net/url"
	"strconv"
)

// Call is one authenticated RPC call as an action sees it.
type Call struct {
	// Action is the action's name.
	Action string
	// Region is the region of the server instance that received the call.
	Region string
	// RequestID is the id the response will carry.
	RequestID string
	// Caller is who signed the request.
	Caller Caller
	// Params are the request's parameters: query and form merged, without
	// Signature and SecurityToken.
	Params url.Values
}

// Has reports whether the call carries parameter name (even empty).
func (c *Call) Has(name string) bool {
	_, ok := c.Params[name]
	return ok
}

// String returns parameter name, "" when absent.
func (c *Call) String(name string) string { return c.Params.Get(name) }

// Required returns parameter name, or MissingParameter naming it when it is
// absent or empty.
func (c *Call) Required(name string) (string, error) {
	v := c.Params.Get(name)
	if v == "" {
		return "", MissingParameter(name)
	}
	return v, nil
}

// Int returns integer parameter name, def when absent or empty, and
// InvalidParameter naming it when it is not a decimal integer.
func (c *Call) Int(name string, def int) (int, error) {
	v := c.Params.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, InvalidParameter(name)
	}
	return n, nil
}

// IntRange is Int that also refuses, with InvalidParameter, a value outside
// [min, max].
func (c *Call) IntRange(name string, def, min, max int) (int, error) {
	n, err := c.Int(name, def)
	if err != nil {
		return 0, err
	}
	if n < min || n > max {
		return 0, InvalidParameter(name)
	}
	return n, nil
}

// Bool returns boolean parameter name ("true" or "false", any case the
// SDKs send), def when absent or empty, and InvalidParameter naming it
// otherwise.
func (c *Call) Bool(name string, def bool) (bool, error) {
	switch c.Params.Get(name) {
	case "":
		return def, nil
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	}
	return false, InvalidParameter(name)
}

// JSON decodes JSON-valued parameter name (such as KMS's Filters or Tags)
// into v. It reports false, leaving v alone, when the parameter is absent or
// empty, and returns InvalidParameter naming it when it is not valid JSON
// for v.
func (c *Call) JSON(name string, v any) (bool, error) {
	s := c.Params.Get(name)
	if s == "" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return false, InvalidParameter(name)
	}
	return true, nil
}
