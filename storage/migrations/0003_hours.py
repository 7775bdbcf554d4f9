from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_speed')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HoursNotice',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='hours_notices', on_delete=OnDelete.CASCADE)),
                ('month', fields.CharField(max_length=7)),
                ('kind', fields.CharField(max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hours_notice', 'app': 'models', 'unique_together': (('customer', 'month', 'kind'),), 'pk_attr': 'id', 'table_description': 'One row per hour-bank notice sent (the warning, then over the bank): unique, so once per month.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TimeEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='time_entries', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='time_entries', on_delete=OnDelete.CASCADE)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', null=True, db_constraint=True, to_field='id', related_name='time_entries', on_delete=OnDelete.SET_NULL)),
                ('person_name', fields.CharField(max_length=200)),
                ('minutes', fields.IntField()),
                ('billable', fields.BooleanField()),
                ('note', fields.TextField(null=True, unique=False)),
                ('month', fields.CharField(max_length=7)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'time_entry', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'month'])], 'pk_attr': 'id', 'table_description': 'Time logged on a ticket. Entries are never edited: a correction is a negative entry.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Contract',
            name='hours',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
