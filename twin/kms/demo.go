package kms

import (
	_ "embed"
)

//go:embed demo.json
var demoJSON []byte

// DemoInventory returns the built-in demo estate: three accounts over
// cn-hangzhou, cn-shanghai and cn-beijing with one resource for every
// migration rule (see doc.go). It panics if the embedded file is invalid,
// which a test rules out.
func DemoInventory() *Inventory {
	inv, err := ParseInventory(demoJSON)
	if err != nil {
		panic("kms: demo inventory: " + err.Error())
	}
	return inv
}

// DemoJSON returns the raw demo inventory document.
func DemoJSON() []byte { return append([]byte(nil), demoJSON...) }
