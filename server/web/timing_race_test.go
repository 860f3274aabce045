//go:build race

package web_test

// raceDetector is true when the tests run with -race: it slows the code
// it instruments (FerretDB's SQLite, transpiled to Go, most of all) tens of
// times, and unevenly, so latencies then measure the detector.
const raceDetector = true
