DROP TABLE support_requests;
DROP TABLE help_index;
