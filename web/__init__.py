"""What the app serves to browsers besides the API: the GraphiQL page and its assets."""
