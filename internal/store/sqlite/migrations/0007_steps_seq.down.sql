DROP INDEX steps_seq;
