// Package loadtest holds the bounded load test of the API (`make load`, build tag "load"): many
// projects at once, each uploading, running and polling, through real loopback HTTP at a fixed
// request rate, against the API and workers of all-in-one in this process.
package loadtest
