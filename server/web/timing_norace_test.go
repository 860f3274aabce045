//go:build !race

package web_test

// raceDetector is true when the tests run with -race (timing_race_test.go).
const raceDetector = false
