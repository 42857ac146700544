// Package faulttest holds the fault tests of the production backends: the linkage binary runs
// as an API and two worker processes on a private PostgreSQL (fsync on) and Redis, which the
// tests kill, restart and lose, and the S3 of moto. A run must complete with the engine's result
// when a worker is SIGKILLed or SIGTERMed, Redis restarts empty or Postgres is SIGKILLed; the
// API answers 503 problem JSON meanwhile and no accepted upload is lost. Every project links
// its own data, checked against `linkage link` on that project's files; the harness runs under
// -race. BenchmarkRun20k measures the speed-up of a run with a second worker process.
//
// The tests carry the build tag "faults" (they take minutes):
//
//	make services && eval "$(make -s services-env)" && make test-faults
package faulttest
