package kms

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strconv"
)

func decodeParams(p url.Values, dst any) error {
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		vals, ok := p[f.Name]
		if !ok || len(vals) == 0 {
			continue
		}
		raw := vals[0]
		fv := v.Field(i)
		switch fv.Interface().(type) {
		case string:
			fv.SetString(raw)
		case bool:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return errParam(f.Name, "It must be true or false.")
			}
			fv.SetBool(b)
		case *bool:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return errParam(f.Name, "It must be true or false.")
			}
			fv.Set(reflect.ValueOf(&b))
		case *int32:
			n, err := strconv.ParseInt(raw, 10, 32)
			if err != nil {
				return errParam(f.Name, "It must be an integer.")
			}
			n32 := int32(n)
			fv.Set(reflect.ValueOf(&n32))
		case []string:
			var list []string
			if err := json.Unmarshal([]byte(raw), &list); err != nil {
				return errParam(f.Name, "It must be a JSON array of strings.")
			}
			fv.Set(reflect.ValueOf(list))
		}
	}
	return nil
}

// page validates PageNumber and PageSize (1..100, default def) and returns
// the slice bounds [lo, hi) of a list of n items.
func page(number, size *int32, def, n int) (num, sz, lo, hi int, err error) {
	num, sz = 1, def
	if number != nil {
		if *number < 1 {
			return 0, 0, 0, 0, errParam("PageNumber", "It must be at least 1.")
		}
		num = int(*number)
	}
	if size != nil {
		if *size < 1 || *size > 100 {
			return 0, 0, 0, 0, errParam("PageSize", "It must be between 1 and 100.")
		}
		sz = int(*size)
	}
	lo = min((num-1)*sz, n)
	hi = min(lo+sz, n)
	return num, sz, lo, hi, nil
}

// filter is one entry of the Filters parameter: [{"Key":..., "Values":[...]}].
type filter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

// parseFilters decodes Filters and groups the values by key (values of one
// key are OR-ed, keys AND-ed). allowed lists the keys the action accepts.
func parseFilters(raw string, allowed ...string) (map[string][]string, error) {
	out := map[string][]string{}
	if raw == "" {
		return out, nil
	}
	var fs []filter
	if err := json.Unmarshal([]byte(raw), &fs); err != nil {
		return nil, errParam("Filters", "It must be a JSON array of {\"Key\",\"Values\"}.")
	}
	if len(fs) > 10 {
		return nil, errParam("Filters", "At most 10 filters are allowed.")
	}
	for _, f := range fs {
		ok := false
		for _, a := range allowed {
			ok = ok || a == f.Key
		}
		if !ok {
			return nil, errParam("Filters", "Unsupported filter key "+strconv.Quote(f.Key)+".")
		}
		if len(f.Values) > 10 {
			return nil, errParam("Filters", "At most 10 values per filter are allowed.")
		}
		out[f.Key] = append(out[f.Key], f.Values...)
	}
	return out, nil
}

func matches(vals []string, v string) bool {
	if vals == nil {
		return true
	}
	for _, x := range vals {
		if x == v {
			return true
		}
	}
	return false
}
