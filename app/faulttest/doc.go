// Package faulttest holds the fault tests of the production backends: the linkage binary runs
// as an API and two worker processes on a private PostgreSQL and Redis (which the tests stop,
// restart and lose) and the S3 of moto, and a run must complete with the engine's result when a
// worker is SIGKILLed or SIGTERMed, Redis restarts empty or Postgres stops for a while; the API
// answers 503 problem JSON meanwhile and no accepted upload is lost. BenchmarkRun20k measures
// the speed-up of a run with a second worker process.
//
// The tests carry the build tag "faults" (they take minutes):
//
//	make services && eval "$(make -s services-env)" && make test-faults
package faulttest
