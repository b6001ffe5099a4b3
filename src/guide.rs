//! The guide: one chapter per topic. Every code block here is compiled and run as a test.
