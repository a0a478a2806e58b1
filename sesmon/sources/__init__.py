"""Data sources: AWS clients (the only place boto3 is used), SQS, CloudWatch and SES account polling."""
